"""Course → Module → Lesson → Section (+ knowledge-check Questions), and each learner's progress.

Sections and questions store their rendered HTML, computed once on save (never per request).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.urls import reverse

from .rendering import render_markdown


class PublishedQuerySet(models.QuerySet):
    def published(self) -> PublishedQuerySet:
        return self.filter(published=True)


class Course(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    published = models.BooleanField(default=True)

    objects = PublishedQuerySet.as_manager()

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("course:course", kwargs={"course": self.slug})


class Module(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="modules")
    slug = models.SlugField()
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)
    published = models.BooleanField(default=True)

    objects = PublishedQuerySet.as_manager()

    class Meta:
        ordering = ["course", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="unique_module_slug")
        ]

    def __str__(self) -> str:
        return self.title


class Lesson(models.Model):
    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="lessons")
    slug = models.SlugField()
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)
    published = models.BooleanField(default=True)

    objects = PublishedQuerySet.as_manager()

    class Meta:
        ordering = ["module__order", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["module", "slug"], name="unique_lesson_slug")
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse(
            "course:lesson", kwargs={"course": self.module.course.slug, "lesson": self.slug}
        )


class Section(models.Model):
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="sections")
    slug = models.SlugField()
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown. ```mermaid fences become diagrams.")
    body_html = models.TextField(editable=False, default="")
    source_hash = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="Hash of the body last loaded from the content files; "
        "a different body means an instructor edited it, and load_course keeps the edit.",
    )
    order = models.PositiveIntegerField(default=0)
    published = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PublishedQuerySet.as_manager()

    class Meta:
        ordering = ["lesson", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["lesson", "slug"], name="unique_section_slug")
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs) -> None:
        self.body_html = render_markdown(self.body, anchor_prefix=self.slug).html
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "body_html"}
        super().save(*args, **kwargs)

    @staticmethod
    def hash_body(body: str) -> str:
        return hashlib.sha256(body.encode()).hexdigest()

    def get_absolute_url(self) -> str:
        return f"{self.lesson.get_absolute_url()}#{self.slug}"


class SectionProgress(models.Model):
    """A section a signed-in learner marked complete."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="section_progress"
    )
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="progress")
    completed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "section"], name="unique_progress")]


class Question(models.Model):
    """A knowledge-check question at the end of a lesson; its explanation links to a section."""

    class Kind(models.TextChoices):
        SINGLE = "single", "Choose one"
        MULTIPLE = "multiple", "Choose all that apply"
        SPOT = "spot", "Spot the problem"

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="questions")
    slug = models.SlugField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SINGLE)
    prompt = models.TextField(help_text="Markdown: the question, with any snippet in a code fence.")
    prompt_html = models.TextField(editable=False, default="")
    explanation = models.TextField(help_text="Markdown, shown once the learner has answered.")
    explanation_html = models.TextField(editable=False, default="")
    section = models.ForeignKey(
        Section,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="questions",
        help_text="The section this question tests; the explanation links to it.",
    )
    source_hash = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="Hash of the question (with its choices) last loaded from the content files; "
        "a different hash means an instructor edited it, and load_course keeps the edit.",
    )
    order = models.PositiveIntegerField(default=0)
    published = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PublishedQuerySet.as_manager()

    class Meta:
        ordering = ["lesson", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["lesson", "slug"], name="unique_question_slug")
        ]

    def __str__(self) -> str:
        return f"{self.lesson.slug}/{self.slug}"

    def save(self, *args, **kwargs) -> None:
        self.prompt_html = render_markdown(self.prompt, anchor_prefix=f"q-{self.slug}").html
        self.explanation_html = render_markdown(
            self.explanation, anchor_prefix=f"a-{self.slug}"
        ).html
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "prompt_html", "explanation_html"}
        super().save(*args, **kwargs)

    @property
    def multiple(self) -> bool:
        return self.kind == self.Kind.MULTIPLE

    def content_hash(self) -> str:
        """What load_course compares with `source_hash`: everything an instructor can edit."""
        section_slug = self.section.slug if self.section_id else ""
        parts = [self.kind, self.prompt, self.explanation, section_slug]
        parts += [f"{c.correct:d}{c.text}" for c in self.choices.all()]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class Choice(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    text = models.CharField(max_length=400, help_text="Markdown (inline), e.g. `code`.")
    text_html = models.TextField(editable=False, default="")
    correct = models.BooleanField(default=False)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["question", "order", "id"]

    def __str__(self) -> str:
        return self.text

    def save(self, *args, **kwargs) -> None:
        rendered = render_markdown(self.text).html.strip()
        if rendered.startswith("<p>") and rendered.endswith("</p>") and rendered.count("<p>") == 1:
            rendered = rendered[3:-4]
        self.text_html = rendered
        super().save(*args, **kwargs)


class QuestionAnswer(models.Model):
    """A signed-in learner's latest answer to a question (answering again replaces it)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="question_answers"
    )
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    choice_ids = models.JSONField(default=list)
    correct = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=1)
    answered_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "question"], name="unique_question_answer")
        ]
