"""Write-side operations: loading exercises, packaging the starter, submissions and their grading."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from math import ceil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kombu.exceptions
import redis.exceptions
import yaml
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, OperationalError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from .grading import grader, sandbox
from .grading.types import GradingError, InfrastructureError, Stage, Status
from .models import ChecklistItem, Exercise, Submission, SubmissionCheck

if TYPE_CHECKING:
    from django.contrib.auth.models import User

DEADLINE_GRACE_S = 60  # after the hard time limit, a run is certainly dead
# Drydock's transient faults: the engine or the broker unreachable. Retried, never counted.
TRANSIENT_ERRORS = (
    InfrastructureError,
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
)

DEFAULT_TITLE = "Converting Development Docker to Production"


def exercise_assets_dir(slug: str) -> Path:
    return Path(settings.EXERCISE_ASSETS_DIR) / slug


def _split_title(markdown_text: str) -> tuple[str, str]:
    first, _, rest = markdown_text.partition("\n")
    if first.startswith("# "):
        return first[2:].strip(), rest.lstrip("\n")
    return DEFAULT_TITLE, markdown_text


@transaction.atomic
def exercise_load(*, slug: str) -> Exercise:
    """Create or refresh an exercise from its assets (instructions and checklist).

    Instructor edits in the admin are overwritten only when this is called explicitly.
    """
    directory = exercise_assets_dir(slug)
    title, instructions = _split_title((directory / "exercise.md").read_text(encoding="utf-8"))
    exercise, _ = Exercise.objects.update_or_create(
        slug=slug, defaults={"title": title, "instructions": instructions}
    )
    items = yaml.safe_load((directory / "checklist.yaml").read_text(encoding="utf-8")) or []
    for order, item in enumerate(items, start=1):
        ChecklistItem.objects.update_or_create(
            exercise=exercise,
            check_id=item["id"],
            defaults={
                "order": order,
                "title": item["title"],
                "description": item.get("description", ""),
                "hint": item.get("hint", ""),
                "lesson_slug": item.get("lesson", ""),
                "section_slug": item.get("section", ""),
            },
        )
    return exercise


def starter_zip(*, slug: str) -> bytes:
    """The starter project as a zip, built from the repository's copy on each download."""
    root = exercise_assets_dir(slug) / "starter"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file() and "node_modules" not in path.parts:
                archive.write(path, f"{slug}-starter/{path.relative_to(root)}")
    return buffer.getvalue()


# --- Submissions ---------------------------------------------------------------------------
# Learner-facing messages are constants: the views show them, the tests assert on them.

DOCKERFILE = "Dockerfile"
COMPOSE_FILE = "docker-compose.yml"
DOCKERIGNORE = ".dockerignore"
MAX_FILE_BYTES = 256 * 1024  # the grader's own per-file limit
MAX_FILES = 8
LOG_CAP_CHARS = 64 * 1024  # the tail of the build/run log kept on the submission
FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
ALL_FILES = "__all__"  # error key of errors about the submission as a whole

FILE_REQUIRED = "{name} is required: paste it into the editor or upload it."
FILE_TOO_LARGE = "{name} is {size} KiB: the limit is 256 KiB per file."
FILE_NOT_UTF8 = "{name} is not UTF-8 text. Save it as UTF-8 (without binary content) and try again."
FILE_BINARY = "{name} contains a NUL byte: only text files can be submitted."
FILE_BAD_NAME = (
    "“{name}” is not an allowed file name: use letters, digits, dots, dashes and underscores, "
    "with no folders."
)
FILE_RESERVED_NAME = "{name} has its own field: paste or upload it there, not as an extra file."
FILE_DUPLICATE = "{name} was submitted twice."
TOO_MANY_FILES = "At most 8 files can be submitted; you sent {count}."
RATE_LIMITED = (
    "You have reached the limit of {limit} submissions in {window} minutes. "
    "You can submit again at {time} UTC (in {wait})."
)
STAGE_QUEUED = "Waiting for a grader…"
STAGE_REGRADE = "Queued for regrading by an instructor…"
GRADING_DELAYED = (
    "Grading is delayed: Drydock's grading service is unreachable right now. Your submission is "
    "kept and will be graded automatically as soon as the service is back."
)
GRADING_RETRYING = (
    "Grading is delayed by a problem on Drydock's side, not in your files; "
    "retrying automatically (try {retry} of {retries})."
)
INFRA_ERROR = (
    "Drydock could not grade this submission because of a problem on our side, not in your files. "
    "It does not count as an attempt: please submit again."
)
INFRA_TIMEOUT = (
    "Grading took longer than Drydock allows because of a problem on our side. "
    "It does not count as an attempt: please submit again."
)
INFRA_STUCK = (
    "Grading stopped responding (a grading worker was lost). This was Drydock's fault and does not "
    "count as an attempt: please submit again."
)
INFRA_EXPIRED = (
    "Drydock's grading service was unavailable for too long to grade this submission. "
    "It does not count as an attempt: please submit again."
)

logger = logging.getLogger(__name__)


class SubmissionError(Exception):
    """A submission that cannot be accepted. `errors` maps a file name (or ALL_FILES) to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(m for messages in errors.values() for m in messages))


class SubmissionRateLimited(SubmissionError):
    def __init__(self, message: str, *, retry_at: datetime) -> None:
        self.retry_at = retry_at
        super().__init__({ALL_FILES: [message]})


# Files -------------------------------------------------------------------------------------


def submission_files_clean(*, files: Mapping[str, bytes | str]) -> dict[str, str]:
    """Validate names, sizes and encoding; return name → text, or raise SubmissionError.

    Every problem is reported at once, so the learner fixes everything in one go.
    """
    errors: dict[str, list[str]] = defaultdict(list)
    if len(files) > MAX_FILES:
        errors[ALL_FILES].append(TOO_MANY_FILES.format(count=len(files)))
    cleaned: dict[str, str] = {}
    for name, content in files.items():
        if not FILE_NAME.match(name) or name in (".", "..") or ".." in name:
            errors[ALL_FILES].append(FILE_BAD_NAME.format(name=name[:100]))
            continue
        raw = content.encode("utf-8") if isinstance(content, str) else content
        if len(raw) > MAX_FILE_BYTES:
            errors[name].append(FILE_TOO_LARGE.format(name=name, size=ceil(len(raw) / 1024)))
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            errors[name].append(FILE_NOT_UTF8.format(name=name))
            continue
        if "\x00" in text:
            errors[name].append(FILE_BINARY.format(name=name))
            continue
        cleaned[name] = text
    for required in (DOCKERFILE, COMPOSE_FILE):
        if required not in errors and not cleaned.get(required, "").strip():
            errors[required].append(FILE_REQUIRED.format(name=required))
    if errors:
        raise SubmissionError(dict(errors))
    return cleaned


def _as_bytes(files: Mapping[str, str]) -> dict[str, bytes]:
    return {name: text.encode("utf-8") for name, text in files.items()}


def _log_tail(text: str, limit: int = LOG_CAP_CHARS) -> str:
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    newline = tail.find("\n")
    if 0 <= newline < 200:
        tail = tail[newline + 1 :]
    return "… (earlier output cut)\n" + tail


# Rate limit --------------------------------------------------------------------------------


def _rate() -> tuple[int, int]:
    limit, _, window = settings.DRYDOCK_SUBMISSION_RATE.partition("/")
    return int(limit), int(window)


def _humanize(seconds: float) -> str:
    seconds = max(1, ceil(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def submission_rate_check(*, learner: User, now: datetime | None = None) -> None:
    """Raise SubmissionRateLimited when the learner used up their submissions in the window.

    Submissions that failed because of Drydock's own faults do not count.
    """
    now = now or timezone.now()
    limit, window = _rate()
    recent = list(
        Submission.objects.filter(learner=learner, created_at__gt=now - timedelta(seconds=window))
        .counted()
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    if len(recent) < limit:
        return
    retry_at = recent[len(recent) - limit] + timedelta(seconds=window)
    message = RATE_LIMITED.format(
        limit=limit,
        window=round(window / 60),
        time=retry_at.astimezone(UTC).strftime("%H:%M:%S"),
        wait=_humanize((retry_at - now).total_seconds()),
    )
    raise SubmissionRateLimited(message, retry_at=retry_at)


def _lock_learner(learner_id: int) -> None:
    """Serialise a learner's writes (rate limit, attempt numbers) on databases with row locks.

    SQLite needs nothing more: its IMMEDIATE transactions already serialise writers.
    """
    list(get_user_model().objects.select_for_update().filter(pk=learner_id).values_list("pk"))


# Creation ----------------------------------------------------------------------------------


_INTERNAL_ERROR_PREFIX = grader.UNEXPECTED.split("{", 1)[0]


def _is_internal_error(result: dict[str, Any]) -> bool:
    """The grader reports a bug of its own as `status: error` with its UNEXPECTED message:
    that is Drydock's fault, not the learner's, so it must not count as an attempt."""
    return result.get("status") == Status.ERROR and (result.get("error") or "").startswith(
        _INTERNAL_ERROR_PREFIX
    )


def _static_grade(*, exercise: Exercise, files: dict[str, str]) -> dict[str, Any] | None:
    """The static result (no engine, a few hundred ms), or None when it could not be computed."""
    try:
        result = grader.grade_files(
            _as_bytes(files), exercise=exercise.slug, static_only=True
        ).to_json()
    except Exception:  # InfrastructureError (a tool missing...): the worker will report it properly
        logger.exception("static grading failed for a submission to %s", exercise.slug)
        return None
    return None if _is_internal_error(result) else result


def submission_create(
    *, learner: User, exercise: Exercise, files: Mapping[str, bytes | str]
) -> Submission:
    """Accept a learner's files: validate, rate-limit, grade statically, then enqueue the full grading.

    The static result is stored at once. A submission the static analysis already settles
    (rejected by the sandbox policy, or an error in the files) is final; any other is queued
    and graded by a worker after this transaction commits.
    """
    cleaned = submission_files_clean(files=files)
    submission_rate_check(learner=learner)  # cheap early answer before the static grading
    static = _static_grade(exercise=exercise, files=cleaned)
    now = timezone.now()
    with transaction.atomic():
        _lock_learner(learner.pk)
        submission_rate_check(learner=learner, now=now)
        submission = Submission(
            learner=learner,
            exercise=exercise,
            files=cleaned,
            static_result=static,
            mode="static" if settings.DRYDOCK_GRADING_STATIC_ONLY else "full",
            created_at=now,
        )
        if static is not None and static["status"] in (Status.REJECTED, Status.ERROR):
            submission.started_at = now
            _store_result(submission, result=static, log="")
            return submission
        submission.status = Submission.Status.QUEUED
        submission.stage_message = STAGE_QUEUED
        submission.enqueued_at = now
        submission.save()
        transaction.on_commit(partial(submission_enqueue, submission_id=submission.pk))
    return submission


def submission_enqueue(*, submission_id: int) -> bool:
    """Publish the grading task; if the broker is unreachable keep the submission, flagged delayed.

    The janitor re-enqueues delayed submissions, so they are graded once the broker is back.
    """
    from .tasks import grade_submission  # the tasks module imports this one

    try:
        grade_submission.apply_async(args=[submission_id])
    except Exception as error:  # kombu's OperationalError, redis errors, OSError...
        logger.warning("could not enqueue submission %s: %s", submission_id, error)
        Submission.objects.filter(pk=submission_id, status=Submission.Status.QUEUED).update(
            grading_delayed=True, enqueued_at=None, stage_message=GRADING_DELAYED
        )
        return False
    return True


# Grading (in the worker) --------------------------------------------------------------------


class _ProgressWriter:
    """The grader's progress callback: stage, message and log tail written to the row.

    Stage changes are written at once; messages and log chunks at most every `interval`
    seconds. Only the thread that grades writes (engine threads' calls are buffered), and only
    while this run still owns the submission (`task_id` fences a superseded run).
    """

    def __init__(self, submission_id: int, task_id: str, *, interval: float = 0.5) -> None:
        self.submission_id, self.task_id, self.interval = submission_id, task_id, interval
        self.thread = threading.get_ident()
        self.lock = threading.Lock()
        self.stage: str | None = None
        self.message = ""
        self.log = ""
        self.written_at = 0.0

    def __call__(self, stage: Stage, message: str, log: str = "") -> None:
        with self.lock:
            if log:
                self.log = _log_tail(self.log + log)
            self.message = message[:500]
            changed = stage.value != self.stage
            self.stage = stage.value
            now = time.monotonic()
            if threading.get_ident() != self.thread or (
                not changed and now - self.written_at < self.interval
            ):
                return
            self.written_at = now
            try:
                Submission.objects.filter(
                    pk=self.submission_id, task_id=self.task_id, status__in=Submission.ACTIVE
                ).update(status=self.stage, stage_message=self.message, log=self.log)
            except DatabaseError as error:  # progress is a courtesy; never fail a grading for it
                logger.warning("progress of submission %s not saved: %s", self.submission_id, error)


def _claim(*, submission_id: int, task_id: str) -> Submission | None:
    """Mark the submission as being graded by this run, or None if it must not run.

    A queued submission is claimed; so is one whose previous run is past its deadline (that run
    is dead: the hard time limit killed it). A finished one, or one that another live run is
    grading, is left alone — so a redelivered message never starts a second grading beside the first.
    """
    now = timezone.now()
    deadline = now + timedelta(seconds=settings.DRYDOCK_GRADING_TIME_LIMIT + DEADLINE_GRACE_S)
    claimable = Q(status=Submission.Status.QUEUED) | Q(
        status__in=Submission.ACTIVE, deadline_at__lt=now
    )
    claimed = Submission.objects.filter(claimable, pk=submission_id).update(
        status=Submission.Status.CHECKING,
        stage_message="checking your files",
        task_id=task_id,
        started_at=now,
        deadline_at=deadline,
        finished_at=None,
        grading_attempts=F("grading_attempts") + 1,
        log="",
    )
    if not claimed:
        return None
    return Submission.objects.select_related("exercise").get(pk=submission_id)


def submission_grade(*, submission_id: int, task_id: str, retry: int = 0, retries: int = 0) -> str:
    """Grade one submission fully (the Celery task's body). Returns what happened, for the logs.

    InfrastructureError is re-raised for the task to retry (the submission goes back to queued,
    flagged delayed) unless this was the last retry: then it stays queued for the janitor.
    Anything else of Drydock's own ends as an `error` that is not one of the learner's attempts.
    """
    submission = _claim(submission_id=submission_id, task_id=task_id)
    if submission is None:
        return "skipped"
    progress = _ProgressWriter(submission_id, task_id)
    try:
        result = grader.grade_files(
            _as_bytes(submission.files),
            exercise=submission.exercise.slug,
            static_only=submission.mode == "static",
            progress=progress,
        )
    except TRANSIENT_ERRORS as error:
        logger.warning("submission %s: infrastructure fault: %s", submission_id, error)
        last = retry >= retries
        message = (
            GRADING_DELAYED if last else GRADING_RETRYING.format(retry=retry + 1, retries=retries)
        )
        _release(
            submission_id=submission_id,
            task_id=task_id,
            message=message,
            live_task=not last,
            detail=str(error),
        )
        if last:
            return "delayed"
        raise
    except SoftTimeLimitExceeded:
        _finish_infrastructure_error(
            submission_id=submission_id,
            task_id=task_id,
            message=INFRA_TIMEOUT,
            detail="soft time limit exceeded",
        )
        return "timeout"
    except GradingError as error:  # the grader returns these as results; kept as a safety net
        result_json = {
            "status": Status.ERROR.value,
            "mode": submission.mode,
            "error": str(error),
            "checks": [],
            "extensions": [],
            "policy": [],
            "score": 0,
        }
        _finish(submission_id=submission_id, task_id=task_id, result=result_json, log=progress.log)
        return Status.ERROR.value
    except Exception as error:
        logger.exception("submission %s: grading crashed", submission_id)
        _finish_infrastructure_error(
            submission_id=submission_id,
            task_id=task_id,
            message=INFRA_ERROR,
            detail=f"{type(error).__name__}: {error}",
        )
        raise
    result_json = result.to_json()
    if _is_internal_error(result_json):
        _finish_infrastructure_error(
            submission_id=submission_id,
            task_id=task_id,
            message=INFRA_ERROR,
            detail=result_json["error"],
        )
        return "internal-error"
    _finish(
        submission_id=submission_id,
        task_id=task_id,
        result=result_json,
        log=result.log or progress.log,
    )
    return result.status.value


def _release(
    *, submission_id: int, task_id: str, message: str, live_task: bool, detail: str
) -> None:
    """Back to queued after an infrastructure fault; `live_task` says whether a retry is scheduled."""
    Submission.objects.filter(
        pk=submission_id, task_id=task_id, status__in=Submission.ACTIVE
    ).update(
        status=Submission.Status.QUEUED,
        stage_message=message,
        grading_delayed=True,
        enqueued_at=timezone.now() if live_task else None,
        started_at=None,
        deadline_at=None,
        internal_error=detail[:2000],
    )


def _finish(*, submission_id: int, task_id: str, result: dict[str, Any], log: str) -> bool:
    """Store the result unless another run or the janitor took the submission over meanwhile.

    A busy database (SQLite's lock, a failover) is retried briefly: the grading is done and
    must not be lost for a transient write error.
    """
    for pause in (0.5, 2, 5, None):
        try:
            with transaction.atomic():
                submission = Submission.objects.select_for_update().filter(pk=submission_id).first()
                if submission is None or submission.task_id != task_id or not submission.is_active:
                    return False  # superseded: the janitor or a later run owns it now
                _store_result(submission, result=result, log=log)
                return True
        except OperationalError:
            if pause is None:
                raise
            logger.warning(
                "submission %s: result not saved yet (database busy); retrying", submission_id
            )
            time.sleep(pause)
    return False


def _store_result(submission: Submission, *, result: dict[str, Any], log: str) -> None:
    """Store a learner-attributable result (it counts as an attempt) and its per-check outcomes."""
    checks = result.get("checks") or []
    submission.status = result["status"]
    submission.result = result
    submission.score = result.get("score", 0)
    submission.checks_passed = sum(1 for check in checks if check.get("passed"))
    submission.stage_message = result.get("error") or ""
    submission.log = _log_tail(log)
    submission.finished_at = timezone.now()
    submission.deadline_at = None
    submission.is_infrastructure_error = False
    submission.grading_delayed = False
    if submission.attempt is None:
        _lock_learner(submission.learner_id)
        latest = Submission.objects.filter(
            learner_id=submission.learner_id, exercise_id=submission.exercise_id
        ).aggregate(latest=Max("attempt"))["latest"]
        submission.attempt = (latest or 0) + 1
    submission.save()
    submission.check_outcomes.all().delete()
    SubmissionCheck.objects.bulk_create(
        SubmissionCheck(
            submission=submission, check_id=check["id"], passed=bool(check.get("passed"))
        )
        for check in checks
    )


def _finish_infrastructure_error(
    *, submission_id: int, task_id: str | None, message: str, detail: str
) -> bool:
    """End a grading as Drydock's fault: status error, not an attempt, shown as such."""
    rows = Submission.objects.filter(pk=submission_id).exclude(status__in=Submission.FINISHED)
    if task_id is not None:
        rows = rows.filter(task_id=task_id)
    return bool(
        rows.update(
            status=Submission.Status.ERROR,
            is_infrastructure_error=True,
            grading_delayed=False,
            stage_message=message,
            internal_error=detail[:2000],
            finished_at=timezone.now(),
            deadline_at=None,
        )
    )


# Regrading and the janitor ------------------------------------------------------------------


def submission_regrade(*, submission: Submission) -> bool:
    """Grade a finished (or delayed) submission again, in place; False if it is being graded now.

    The files, the attempt number and the static result stay; the new result replaces the old.
    """
    now = timezone.now()
    with transaction.atomic():
        regraded = Submission.objects.filter(
            pk=submission.pk, status__in=(*Submission.FINISHED, Submission.Status.QUEUED)
        ).update(
            status=Submission.Status.QUEUED,
            stage_message=STAGE_REGRADE,
            result=None,
            score=None,
            checks_passed=None,
            log="",
            started_at=None,
            finished_at=None,
            deadline_at=None,
            is_infrastructure_error=False,
            grading_delayed=False,
            internal_error="",
            enqueued_at=now,
            regrade_count=F("regrade_count") + 1,
        )
        if regraded:
            SubmissionCheck.objects.filter(submission_id=submission.pk).delete()
            transaction.on_commit(partial(submission_enqueue, submission_id=submission.pk))
    return bool(regraded)


def submissions_regrade(*, submissions: Iterable[Submission]) -> int:
    return sum(submission_regrade(submission=submission) for submission in submissions)


def submissions_janitor(*, now: datetime | None = None, requeue_limit: int = 200) -> dict[str, Any]:
    """The periodic clean-up (celery beat): engine leftovers, stuck, expired and delayed submissions.

    - the grader's engine janitor removes sandbox resources older than DRYDOCK_JANITOR_ENGINE_AGE_S;
    - a submission still being graded past its deadline (its worker was lost) ends as Drydock's error;
    - a submission queued for longer than DRYDOCK_QUEUE_MAX_AGE_S ends the same way;
    - a queued submission with no live task (enqueueing failed, retries used up) or whose task is
      older than DRYDOCK_REQUEUE_AFTER_S (a lost message) is enqueued again: grading resumes by
      itself once the broker and the engine are back. Duplicates are harmless (see `_claim`).
    """
    now = now or timezone.now()
    report: dict[str, Any] = {"engine": None, "stuck": 0, "expired": 0, "requeued": 0}
    try:
        report["engine"] = sandbox.janitor(
            older_than_s=settings.DRYDOCK_JANITOR_ENGINE_AGE_S, sweep_scratch=grader.scratch_sweep
        )
    except Exception as error:  # the engine being down must not stop the database clean-up
        report["engine"] = {"errors": [str(error)[:300]]}
    for submission_id in (
        Submission.objects.active().filter(deadline_at__lt=now).values_list("pk", flat=True)
    ):
        stuck = Submission.objects.filter(
            pk=submission_id, deadline_at__lt=now, status__in=Submission.ACTIVE
        )
        if stuck.update(
            status=Submission.Status.ERROR,
            is_infrastructure_error=True,
            stage_message=INFRA_STUCK,
            internal_error="past its deadline: the worker grading it was lost",
            finished_at=now,
            deadline_at=None,
        ):
            report["stuck"] += 1
    queued = Submission.objects.filter(status=Submission.Status.QUEUED)
    report["expired"] = queued.filter(
        created_at__lt=now - timedelta(seconds=settings.DRYDOCK_QUEUE_MAX_AGE_S)
    ).update(
        status=Submission.Status.ERROR,
        is_infrastructure_error=True,
        grading_delayed=False,
        stage_message=INFRA_EXPIRED,
        finished_at=now,
    )
    orphans = queued.filter(
        Q(enqueued_at__isnull=True)
        | Q(enqueued_at__lt=now - timedelta(seconds=settings.DRYDOCK_REQUEUE_AFTER_S))
    ).order_by("created_at")
    for submission_id in list(orphans.values_list("pk", flat=True)[:requeue_limit]):
        Submission.objects.filter(pk=submission_id, status=Submission.Status.QUEUED).update(
            enqueued_at=now
        )
        report["requeued"] += submission_enqueue(submission_id=submission_id)
    return report
