"""Exercises and their checklists. The rules themselves live in code (exercises.grading)."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from course.rendering import render_markdown

from .grading.types import CHECK_IDS


class Exercise(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    instructions = models.TextField(help_text="Markdown, rendered by the course pipeline.")
    instructions_html = models.TextField(editable=False, default="")
    published = models.BooleanField(default=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        self.instructions_html = render_markdown(self.instructions, anchor_prefix="ex").html
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("exercises:detail", kwargs={"slug": self.slug})


class ChecklistItem(models.Model):
    """One graded check: the text is the instructor's, the rule is `check_id`'s code."""

    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="checklist")
    check_id = models.CharField(max_length=50, choices=[(c, c) for c in CHECK_IDS])
    order = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    hint = models.TextField(blank=True)
    lesson_slug = models.SlugField(blank=True, help_text="Lesson that teaches this check")
    section_slug = models.SlugField(blank=True, help_text="Section within that lesson")

    class Meta:
        ordering = ["exercise", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["exercise", "check_id"], name="unique_check_per_exercise")
        ]

    def __str__(self) -> str:
        return self.title
