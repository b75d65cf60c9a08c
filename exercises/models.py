"""Exercises, their checklists and learners' submissions. The rules live in code (exercises.grading)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

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
            models.UniqueConstraint(
                fields=["exercise", "check_id"], name="unique_check_per_exercise"
            )
        ]

    def __str__(self) -> str:
        return self.title


class SubmissionQuerySet(models.QuerySet):
    def owned_by(self, user) -> SubmissionQuerySet:
        return self.filter(learner_id=getattr(user, "pk", None))

    def finished(self) -> SubmissionQuerySet:
        return self.filter(status__in=Submission.FINISHED)

    def active(self) -> SubmissionQuerySet:
        return self.filter(status__in=Submission.ACTIVE)

    def counted(self) -> SubmissionQuerySet:
        """Everything that counts against the learner's submission limit: all but Drydock's own
        faults and the submissions the static analysis settled (a YAML error, a rejection)."""
        return self.filter(is_infrastructure_error=False, settled_statically=False)


class Submission(models.Model):
    """One learner submission and its whole grading lifecycle.

    queued → checking → building → running → probing → passed/failed/rejected/error.
    `attempt` is given when a learner-attributable result is stored; a fault of Drydock's own
    (`is_infrastructure_error`) never gets one, nor does a submission the static analysis
    settled in a fraction of a second with nothing built (`settled_statically`: an error in the
    files or a sandbox-policy rejection), so fixing a typo costs the learner nothing.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        CHECKING = "checking", "Checking the files"
        BUILDING = "building", "Building the image"
        RUNNING = "running", "Running the stack"
        PROBING = "probing", "Probing the containers"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"
        ERROR = "error", "Error"

    ACTIVE = (Status.CHECKING, Status.BUILDING, Status.RUNNING, Status.PROBING)
    FINISHED = (Status.PASSED, Status.FAILED, Status.REJECTED, Status.ERROR)
    STAGES = (Status.QUEUED, *ACTIVE)  # the progress bar's steps, in order

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    learner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="submissions"
    )
    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="submissions")
    attempt = models.PositiveIntegerField(null=True, blank=True)
    mode = models.CharField(max_length=10, default="full", help_text='"full" or "static"')
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    stage_message = models.CharField(max_length=500, blank=True)
    is_infrastructure_error = models.BooleanField(default=False)
    settled_statically = models.BooleanField(
        default=False,
        help_text="Ended by the static analysis (an error or a rejection): not an attempt.",
    )
    grading_delayed = models.BooleanField(
        default=False, help_text="The broker or the engine was unreachable; grading will resume."
    )
    files = models.JSONField(default=dict, help_text="File name → UTF-8 text, as submitted.")
    executables = models.JSONField(
        default=list, blank=True, help_text="Files submitted with an execute bit (from a .zip)."
    )
    static_result = models.JSONField(null=True, blank=True)
    job_spec = models.JSONField(
        null=True,
        blank=True,
        help_text="The static pass's plan (grader.grade_static), run by the worker without "
        "analysing the files again. Staff only: it holds the job's canary values.",
    )
    result = models.JSONField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="0–100, from the grader"
    )
    checks_passed = models.PositiveSmallIntegerField(null=True, blank=True)
    log = models.TextField(blank=True, help_text="Tail of the build/run log (capped).")
    internal_error = models.TextField(
        blank=True,
        help_text="Staff only: what went wrong on Drydock's side (never shown to learners).",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    enqueued_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time a grading task was published; empty = none."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=50, blank=True)
    job_id = models.CharField(
        max_length=40, blank=True, help_text="The grading job on the engine (its resources' label)."
    )
    grading_attempts = models.PositiveSmallIntegerField(default=0)
    regrade_count = models.PositiveSmallIntegerField(default=0)
    regraded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The instructor who asked for the current grading (empty: the learner's own).",
    )

    objects = SubmissionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["learner", "exercise", "-created_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["learner", "exercise", "attempt"], name="unique_attempt_per_learner"
            )
        ]

    def __str__(self) -> str:
        attempt = f"attempt {self.attempt}" if self.attempt else "not counted"
        return f"{self.learner} · {self.exercise.slug} · {attempt} · {self.status}"

    def get_absolute_url(self) -> str:
        return reverse("exercises:submission", kwargs={"public_id": self.public_id})

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class SubmissionCheck(models.Model):
    """One check's outcome in a submission's final result, for pass rates and exports in SQL."""

    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, related_name="check_outcomes"
    )
    check_id = models.CharField(max_length=50)
    passed = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "check_id"], name="unique_check_per_submission"
            )
        ]

    def __str__(self) -> str:
        return f"{self.check_id}: {'passed' if self.passed else 'failed'}"


class SubmissionGrading(models.Model):
    """A superseded grading of a submission, kept when an instructor regrades it.

    The submission row always holds the current grading; each regrade first copies the one it
    replaces here, so the history (who asked, when, what came out) is never lost.
    """

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="gradings")
    number = models.PositiveSmallIntegerField(help_text="1 = the grading at submission time")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The instructor who asked for this grading (empty: the learner's submission).",
    )
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Submission.Status.choices)
    is_infrastructure_error = models.BooleanField(default=False)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    checks_passed = models.PositiveSmallIntegerField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    stage_message = models.CharField(max_length=500, blank=True)
    superseded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The instructor whose regrade replaced this grading.",
    )
    superseded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["submission", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["submission", "number"], name="unique_grading_number_per_submission"
            )
        ]

    def __str__(self) -> str:
        return f"grading {self.number} of {self.submission_id}: {self.status}"
