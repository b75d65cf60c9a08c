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
    passed: int  # learners whose best attempt passes the check
    total: int  # learners with a graded attempt

    @property
    def percent(self) -> int:
        return round(100 * self.passed / self.total) if self.total else 0


@dataclass(frozen=True)
class Outcomes:
    """The dashboard's header: who and what the pass rates are about, and what they leave out."""

    submissions: int
    learners: int  # learners with a graded (passed or failed) attempt: the bars' denominator
    rejected: int  # submissions rejected by the sandbox policy
    errored: int  # submissions whose files could not be graded (the learner's error)
    drydock_errors: int  # Drydock's own faults (never an attempt)
    pending: int


def best_attempts(*, submissions: QuerySet[Submission]) -> dict[tuple[int, int], int]:
    """(learner id, exercise id) → the pk of the learner's best graded attempt (score, then latest)."""
    best: dict[tuple[int, int], tuple[int, Any, int]] = {}
    rows = submissions.filter(
        attempt__isnull=False, status__in=(Submission.Status.PASSED, Submission.Status.FAILED)
    ).values_list("pk", "learner_id", "exercise_id", "score", "created_at")
    for pk, learner_id, exercise_id, score, created_at in rows.iterator(chunk_size=2000):
        key, rank = (learner_id, exercise_id), (score or 0, created_at, pk)
        if key not in best or rank > best[key]:
            best[key] = rank
    return {key: rank[2] for key, rank in best.items()}


def submission_outcomes(*, submissions: QuerySet[Submission]) -> Outcomes:
    counts = submissions.aggregate(
        total=Count("id"),
        rejected=Count("id", filter=Q(status=Submission.Status.REJECTED)),
        errored=Count(
            "id", filter=Q(status=Submission.Status.ERROR, is_infrastructure_error=False)
        ),
        drydock=Count("id", filter=Q(is_infrastructure_error=True)),
        pending=Count("id", filter=~Q(status__in=Submission.FINISHED)),
    )
    return Outcomes(
        submissions=counts["total"],
        learners=len(best_attempts(submissions=submissions)),
        rejected=counts["rejected"],
        errored=counts["errored"],
        drydock_errors=counts["drydock"],
        pending=counts["pending"],
    )


def check_pass_rates(*, submissions: QuerySet[Submission]) -> list[PassRate]:
    """Per-check pass rates over learners: each learner counts once, with their best attempt.

    Rejected and errored submissions have no checks; the dashboard counts them separately
    (`submission_outcomes`) rather than letting them vanish from the bars.
    """
    best = list(best_attempts(submissions=submissions).values())
    counts = {
        row["check_id"]: row
        for row in SubmissionCheck.objects.filter(submission_id__in=best)
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


@dataclass(frozen=True)
class GradingRow:
    """One grading of a submission, for the staff page's history."""

    number: int
    requested_by: str  # "" = the learner's own submission
    requested_at: Any
    finished_at: Any
    status: str
    is_infrastructure_error: bool
    score: int | None
    checks_passed: int | None
    current: bool
    changes: list[str]


def _check_outcomes(result: dict[str, Any] | None) -> dict[str, bool]:
    return {c["id"]: bool(c.get("passed")) for c in (result or {}).get("checks") or []}


def _changes(before: GradingRow | None, before_result, row: GradingRow, result) -> list[str]:
    if before is None:
        return []
    changes = []
    if (before.status, before.is_infrastructure_error) != (row.status, row.is_infrastructure_error):
        old = "Drydock error" if before.is_infrastructure_error else before.status
        new = "Drydock error" if row.is_infrastructure_error else row.status
        changes.append(f"status {old} → {new}")
    if before.score != row.score and row.score is not None:
        changes.append(f"score {before.score if before.score is not None else '–'} → {row.score}")
    old_checks, new_checks = _check_outcomes(before_result), _check_outcomes(result)
    for check_id in CHECK_IDS:
        if (
            check_id in old_checks
            and check_id in new_checks
            and old_checks[check_id] != new_checks[check_id]
        ):
            changes.append(f"{check_id}: {'now passes' if new_checks[check_id] else 'now fails'}")
    return changes


def submission_gradings(*, submission: Submission) -> list[GradingRow]:
    """Every grading of a submission, oldest first: the kept ones, then the current one."""
    rows: list[GradingRow] = []
    previous: tuple[GradingRow, Any] | None = None
    kept = list(submission.gradings.select_related("requested_by"))
    for grading in kept:
        row = GradingRow(
            grading.number,
            grading.requested_by.get_username() if grading.requested_by else "",
            grading.requested_at,
            grading.finished_at,
            grading.status,
            grading.is_infrastructure_error,
            grading.score,
            grading.checks_passed,
            False,
            [],
        )
        row.changes.extend(_changes(*(previous or (None, None)), row, grading.result))
        rows.append(row)
        previous = (row, grading.result)
    if not kept:
        return []  # never regraded: the page shows the one result as it is
    by = submission.regraded_by
    current = GradingRow(
        len(kept) + 1,
        by.get_username() if by else "",
        submission.enqueued_at or submission.created_at,
        submission.finished_at,
        submission.status,
        submission.is_infrastructure_error,
        submission.score,
        submission.checks_passed,
        True,
        [],
    )
    if submission.is_finished:
        current.changes.extend(_changes(*(previous or (None, None)), current, submission.result))
    rows.append(current)
    return rows


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
