"""Read-side queries: exercise pages, submissions, their reports, diffs and grading health."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DockerLexer, TextLexer, YamlLexer

from course.models import Lesson

from .grading import sandbox
from .grading.types import CHECK_IDS, InfrastructureError
from .models import ChecklistItem, Exercise, Submission, SubmissionCheck


def exercise_get(*, slug: str) -> Exercise | None:
    return Exercise.objects.filter(slug=slug, published=True).prefetch_related("checklist").first()


def checklist_links(items: list[ChecklistItem]) -> dict[str, str]:
    """Map each check id to the URL of the lecture section that teaches it (one query)."""
    lessons = {
        lesson.slug: lesson
        for lesson in Lesson.objects.published()
        .filter(slug__in={i.lesson_slug for i in items})
        .select_related("module__course")
    }
    links: dict[str, str] = {}
    for item in items:
        lesson = lessons.get(item.lesson_slug)
        if lesson is None:
            continue
        try:
            links[item.check_id] = f"{lesson.get_absolute_url()}#{item.section_slug}"
        except NoReverseMatch:
            continue
    return links


def exercise_lesson_url() -> str:
    """The lecture's Practical Exercise lesson, for the 'back to the lecture' link."""
    lesson = (
        Lesson.objects.published()
        .filter(slug="practical-exercise")
        .select_related("module__course")
        .first()
    )
    return lesson.get_absolute_url() if lesson else reverse("course:home")


# --- Submissions ---------------------------------------------------------------------------


def submission_get_for_learner(*, public_id: UUID | str, user) -> Submission | None:
    """The submission, only if `user` owns it (anyone else gets None, i.e. a 404)."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        public_id = UUID(str(public_id))
    except ValueError:
        return None
    return (
        Submission.objects.owned_by(user)
        .select_related("exercise")
        .filter(public_id=public_id)
        .first()
    )


def submissions_for_learner(*, user, exercise: Exercise) -> list[Submission]:
    if not getattr(user, "is_authenticated", False):
        return []
    return list(
        Submission.objects.owned_by(user)
        .filter(exercise=exercise)
        .only(
            "public_id",
            "attempt",
            "status",
            "score",
            "checks_passed",
            "created_at",
            "finished_at",
            "is_infrastructure_error",
            "grading_delayed",
            "exercise_id",
        )  # fmt: skip
    )


@dataclass(frozen=True)
class SubmissionProgress:
    status: str
    label: str
    message: str
    step: int  # 0 = queued … len(STAGES) = done
    steps: int
    elapsed_s: int
    log_tail: str
    delayed: bool

    @property
    def percent(self) -> int:
        return round(100 * self.step / self.steps)


LOG_TAIL_LINES = 25


def submission_progress(
    *, submission: Submission, now: datetime | None = None
) -> SubmissionProgress:
    """What the polling fragment shows while a submission is being graded."""
    now = now or timezone.now()
    stages = [str(s) for s in Submission.STAGES]
    step = len(stages) if submission.is_finished else stages.index(submission.status)
    since = submission.started_at or submission.created_at
    end = submission.finished_at or now
    lines = submission.log.rstrip("\n").splitlines()[-LOG_TAIL_LINES:] if submission.log else []
    return SubmissionProgress(
        status=submission.status,
        label=submission.get_status_display(),
        message=submission.stage_message,
        step=step,
        steps=len(stages),
        elapsed_s=max(0, int((end - since).total_seconds())),
        log_tail="\n".join(lines),
        delayed=submission.grading_delayed,
    )


@dataclass
class CheckRow:
    check_id: str
    title: str
    passed: bool | None  # None: the result has no such check (not graded)
    summary: str
    evidence: list[str]
    notes: list[str]  # the "sandbox: ..." lines: how the sandbox differs from production
    hint: str
    lesson_url: str


@dataclass
class SubmissionReport:
    """A result (static or final) laid out along the exercise's checklist."""

    status: str
    mode: str
    rows: list[CheckRow]
    passed: int
    total: int
    score: int
    extensions: list[dict[str, Any]]
    policy: list[dict[str, Any]]
    error: str | None
    notes: list[str] = field(default_factory=list)


def _split_notes(lines: list[str]) -> tuple[list[str], list[str]]:
    evidence = [line for line in lines if not line.startswith("sandbox:")]
    return evidence, [line for line in lines if line.startswith("sandbox:")]


def submission_report(
    *, exercise: Exercise, result: dict[str, Any] | None
) -> SubmissionReport | None:
    if not result:
        return None
    items = list(exercise.checklist.all())
    links = checklist_links(items)
    checks = {check["id"]: check for check in result.get("checks") or []}
    rows = []
    for item in items:
        check = checks.pop(item.check_id, None)
        evidence, notes = _split_notes(list((check or {}).get("evidence") or []))
        rows.append(
            CheckRow(
                check_id=item.check_id,
                title=item.title,
                passed=None if check is None else bool(check.get("passed")),
                summary=(check or {}).get("summary", ""),
                evidence=evidence,
                notes=notes,
                hint=(check or {}).get("hint") or item.hint,
                lesson_url=links.get(item.check_id, ""),
            )
        )
    for check in checks.values():  # a check the checklist does not list (yet): still shown
        evidence, notes = _split_notes(list(check.get("evidence") or []))
        rows.append(
            CheckRow(
                check["id"],
                check["id"],
                bool(check.get("passed")),
                check.get("summary", ""),
                evidence,
                notes,
                check.get("hint", ""),
                "",
            )
        )
    return SubmissionReport(
        status=result.get("status", ""),
        mode=result.get("mode", ""),
        rows=rows,
        passed=sum(1 for row in rows if row.passed),
        total=len(CHECK_IDS),
        score=result.get("score") or 0,
        extensions=[e for e in result.get("extensions") or [] if e.get("present")],
        policy=list(result.get("policy") or []),
        error=result.get("error"),
        notes=[n for n in result.get("notes") or [] if isinstance(n, str)],
    )


# Diff ----------------------------------------------------------------------------------------


@dataclass
class DiffLine:
    kind: str  # "add" | "del" | "hunk" | "ctx" | "meta"
    text: str


@dataclass
class FileDiff:
    name: str
    status: str  # "changed" | "added" | "removed" | "same"
    lines: list[DiffLine]


def _diff_kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "meta"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(line[:1], "ctx")


def submission_diff(*, old: Submission, new: Submission) -> list[FileDiff]:
    """A unified diff of two attempts, file by file (the template escapes every line)."""
    diffs = []
    for name in sorted(
        set(old.files) | set(new.files),
        key=lambda n: (n not in ("Dockerfile", "docker-compose.yml"), n),
    ):
        before, after = old.files.get(name), new.files.get(name)
        status = (
            "added"
            if before is None
            else "removed"
            if after is None
            else "same"
            if before == after
            else "changed"
        )
        lines = difflib.unified_diff(
            (before or "").splitlines(), (after or "").splitlines(),
            fromfile=f"attempt {old.attempt or '–'}/{name}", tofile=f"attempt {new.attempt or '–'}/{name}",
            lineterm="", n=3,
        )  # fmt: skip
        diffs.append(FileDiff(name, status, [DiffLine(_diff_kind(line), line) for line in lines]))
    return diffs


# Editor preview --------------------------------------------------------------------------------

PREVIEW_LEXERS = {"dockerfile": DockerLexer, "yaml": YamlLexer, "text": TextLexer}


def code_preview_html(*, text: str, language: str) -> str:
    """Pygments-highlighted HTML for the editor's preview (Pygments escapes the text)."""
    lexer = PREVIEW_LEXERS.get(language, TextLexer)()
    return highlight(text[: 256 * 1024], lexer, HtmlFormatter(cssclass="highlight"))


# Grading health (the exercise page's banner) ------------------------------------------------------


@dataclass(frozen=True)
class GradingHealth:
    broker: bool
    workers: int
    engine: bool | None  # None: not checked from the web process

    @property
    def ok(self) -> bool:
        return self.broker and self.workers > 0 and self.engine is not False


HEALTH_CACHE_KEY = "exercises:grading-health"


def _broker_up() -> bool:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return True  # another transport: let control.ping answer
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.exceptions.RedisError:
        return False


def _workers() -> int:
    from drydock.celery import app

    try:
        return len(app.control.ping(timeout=0.5) or [])
    except Exception:  # the broker went away between the two checks
        return 0


def _engine_up() -> bool | None:
    """Is an engine reachable for grading? None when not checked.

    DRYDOCK_HEALTH_ENGINE: "workers" reads the engine reports the grading workers publish in
    Redis (drydock.health; the web process of a deployment has no engine), "direct" pings
    DOCKER_HOST from this process (the single-machine set-up), "off" skips the check.
    """
    mode = settings.DRYDOCK_HEALTH_ENGINE
    if mode == "workers":
        from drydock.health import check_engine_via_workers

        return check_engine_via_workers().ok
    if mode != "direct":
        return None
    try:
        sandbox.engine_status(timeout=2)
    except InfrastructureError:
        return False
    return True


def grading_health(*, refresh: bool = False) -> GradingHealth:
    """Are a worker and the engine reachable? Cached for DRYDOCK_HEALTH_CACHE_S seconds.

    Cheap and bounded: a half-second Redis ping, then Celery's `control.ping` (0.5 s), then a
    Docker ping. The page loads the banner with htmx, so it never waits for this.
    """
    health = None if refresh else cache.get(HEALTH_CACHE_KEY)
    if health is None:
        broker = _broker_up()
        health = GradingHealth(
            broker=broker, workers=_workers() if broker else 0, engine=_engine_up()
        )
        cache.set(HEALTH_CACHE_KEY, health, settings.DRYDOCK_HEALTH_CACHE_S)
    return health


# Instructors ------------------------------------------------------------------------------------


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
