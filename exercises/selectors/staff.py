"""Instructor views: filtering submissions, pass rates per check, the grades CSV."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Count, Q, QuerySet

from ..grading.types import CHECK_IDS
from ..models import ChecklistItem, Submission, SubmissionCheck


@dataclass(frozen=True)
class SubmissionFilters:
    status: str = ""  # a Submission.Status value, or "infrastructure" for Drydock's own errors
    exercise: str = ""  # slug
    date_from: date | None = None
    date_to: date | None = None
    learner: str = ""  # username contains


def submissions_filter(*, filters: SubmissionFilters) -> QuerySet[Submission]:
    rows = Submission.objects.select_related("learner", "exercise")
    if filters.status == "infrastructure":
        rows = rows.filter(is_infrastructure_error=True)
    elif filters.status:
        rows = rows.filter(status=filters.status)
    if filters.exercise:
        rows = rows.filter(exercise__slug=filters.exercise)
    if filters.date_from:
        rows = rows.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        rows = rows.filter(created_at__date__lte=filters.date_to)
    if filters.learner:
        rows = rows.filter(learner__username__icontains=filters.learner)
    return rows


@dataclass(frozen=True)
class PassRate:
    check_id: str
    title: str
    passed: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.passed / self.total) if self.total else 0


def check_pass_rates(*, submissions: QuerySet[Submission]) -> list[PassRate]:
    """Per-check pass rates over the final results of `submissions` (one aggregate query)."""
    counts = {
        row["check_id"]: row
        for row in SubmissionCheck.objects.filter(submission__in=submissions.values("pk"))
        .values("check_id")
        .annotate(total=Count("id"), passed=Count("id", filter=Q(passed=True)))
    }
    titles = dict(
        ChecklistItem.objects.filter(check_id__in=CHECK_IDS)
        .order_by("order")
        .values_list("check_id", "title")
    )
    return [
        PassRate(
            check_id,
            titles.get(check_id, check_id),
            counts.get(check_id, {}).get("passed", 0),
            counts.get(check_id, {}).get("total", 0),
        )
        for check_id in CHECK_IDS
    ]


GRADE_COLUMNS = (
    "submission", "learner", "email", "exercise", "attempt", "status", "drydock_error",
    "score", "checks_passed", *CHECK_IDS, "submitted_at", "finished_at",
)  # fmt: skip


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas (a username may start with + - = @)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def grade_rows(
    *, submissions: QuerySet[Submission], best_only: bool = False
) -> Iterator[list[Any]]:
    """The CSV export: a header, then one row per submission (or per learner's best attempt)."""
    yield list(GRADE_COLUMNS)
    rows = submissions.prefetch_related("check_outcomes").order_by(
        "learner__username", "exercise__slug", "created_at"
    )
    if best_only:
        best: dict[tuple[int, int], Submission] = {}
        for submission in rows.filter(attempt__isnull=False):
            key = (submission.learner_id, submission.exercise_id)
            if key not in best or (submission.score or 0) > (best[key].score or 0):
                best[key] = submission
        rows = best.values()
    for submission in rows.iterator(chunk_size=500) if not best_only else rows:
        outcomes = {o.check_id: o.passed for o in submission.check_outcomes.all()}
        yield [
            _csv_safe(value)
            for value in (
                str(submission.public_id),
                submission.learner.get_username(),
                submission.learner.email,
                submission.exercise.slug,
                submission.attempt or "",
                submission.status,
                "yes" if submission.is_infrastructure_error else "no",
                "" if submission.score is None else submission.score,
                "" if submission.checks_passed is None else submission.checks_passed,
                *(
                    "" if c not in outcomes else "pass" if outcomes[c] else "fail"
                    for c in CHECK_IDS
                ),
                submission.created_at.isoformat(),
                submission.finished_at.isoformat() if submission.finished_at else "",
            )  # fmt: skip
        ]
