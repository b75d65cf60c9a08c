"""A submission's grading lifecycle: the only writer of `Submission.status`.

queued → checking → building → running → probing → passed/failed/rejected/error. Intake, the
worker, regrades and the janitor all move a submission through the functions here.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import kombu.exceptions
import redis.exceptions
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from ..grading import grader, sandbox
from ..grading.types import InfrastructureError
from ..models import Submission, SubmissionCheck
from .history import keep_grading
from .progress import ProgressWriter, log_tail
from .quota import lock_learner

if TYPE_CHECKING:
    from django.contrib.auth.models import User

DEADLINE_GRACE_S = 60  # after the hard time limit, a run is certainly dead
# A grading whose worker died is redelivered (acks_late + reject_on_worker_lost) and resumed,
# at most this many times beyond the task's own retries: a submission that kills its worker
# every time must not loop forever.
WORKER_LOST_REDELIVERIES = 2
# Drydock's transient faults: the engine or the broker unreachable. Retried, never counted.
TRANSIENT_ERRORS = (
    InfrastructureError,
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
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
INFRA_WORKER_LOST = (
    "Grading stopped several times because a grading worker was lost. This was Drydock's fault "
    "and does not count as an attempt: please submit again."
)
INFRA_EXPIRED = (
    "Drydock's grading service was unavailable for too long to grade this submission. "
    "It does not count as an attempt: please submit again."
)

logger = logging.getLogger(__name__)


def _as_bytes(files: dict[str, str]) -> dict[str, bytes]:
    return {name: text.encode("utf-8") for name, text in files.items()}


# Intake ------------------------------------------------------------------------------------


def submission_settle_statically(
    submission: Submission, *, result: dict[str, Any], now: datetime
) -> None:
    """End a new submission on its static result (an error or a rejection): not an attempt."""
    submission.started_at = now
    submission.settled_statically = True
    _store_result(submission, result=result, log="")


def submission_queue_new(submission: Submission, *, now: datetime) -> None:
    submission.status = Submission.Status.QUEUED
    submission.stage_message = STAGE_QUEUED
    submission.enqueued_at = now
    submission.save()


def submission_mark_delayed(*, submission_id: int) -> None:
    """The broker refused the task: keep the submission queued, flagged for the janitor."""
    Submission.objects.filter(pk=submission_id, status=Submission.Status.QUEUED).update(
        grading_delayed=True, enqueued_at=None, stage_message=GRADING_DELAYED
    )


def _attempt_limit() -> int:
    return settings.DRYDOCK_GRADING_MAX_RETRIES + 1 + WORKER_LOST_REDELIVERIES


def _claim(*, submission_id: int, task_id: str, job_id: str) -> tuple[Submission | None, str]:
    """Mark the submission as being graded by this run as job `job_id`: (the submission, the
    job id of a run that died before finishing, "" if none), or (None, "") if it must not run.

    A queued submission is claimed. So is one being graded by this very task (same id): Celery
    redelivered it because its worker died mid-run (acks_late, reject_on_worker_lost), so the
    grading resumes at once rather than when the janitor ends it, within the attempt limit.
    So is one whose run is past its deadline (the hard time limit killed it). A finished one,
    or one that another task is grading, is left alone: a duplicate never grades beside the first.
    """
    now = timezone.now()
    deadline = now + timedelta(seconds=settings.DRYDOCK_GRADING_TIME_LIMIT + DEADLINE_GRACE_S)
    rows = Submission.objects.filter(pk=submission_id)
    active = Q(status__in=Submission.ACTIVE)
    dead = active & (
        Q(deadline_at__lt=now) | Q(task_id=task_id, grading_attempts__lt=_attempt_limit())
    )
    previous = rows.filter(dead).values_list("job_id", flat=True).first() or ""
    claimed = rows.filter(Q(status=Submission.Status.QUEUED) | dead).update(
        status=Submission.Status.CHECKING,
        stage_message="checking your files",
        task_id=task_id,
        job_id=job_id,
        started_at=now,
        deadline_at=deadline,
        finished_at=None,
        grading_attempts=F("grading_attempts") + 1,
        log="",
    )
    if not claimed:
        return None, ""
    return Submission.objects.select_related("exercise").get(pk=submission_id), previous


def _job_remove(job_id: str) -> None:
    """Remove what a dead run of this submission left on the engine (best effort: the janitor's
    age-based sweep gets whatever this misses)."""
    try:
        report = sandbox.janitor(job_id=job_id)
    except Exception as error:  # the grading itself will report an unreachable engine
        logger.warning("leftovers of job %s not removed: %s", job_id, error)
        return
    logger.info("removed the leftovers of dead job %s: %s", job_id, report)


def _grade(submission: Submission, *, job_id: str, progress: ProgressWriter) -> Graded:
    """One pass per submission: the worker runs the plan the static pass stored and only adds
    the runtime part (in static-only mode the stored result is the result). A regrade, or a
    submission whose static pass could not be done, is graded from its files."""
    files = _as_bytes(submission.files)
    executables = submission.executables or ()
    static, spec = submission.static_result, submission.job_spec
    if static is not None and spec is not None and submission.mode == "static":
        return Graded(result=dict(static), log=str(spec.get("log") or ""))
    if static is not None and spec is not None:
        result = grader.grade_runtime(
            files, static=static, spec=spec, exercise=submission.exercise.slug,
            executables=executables, progress=progress, job_id=job_id,
        )  # fmt: skip
    else:
        result = grader.grade_files(
            files, exercise=submission.exercise.slug, static_only=submission.mode == "static",
            progress=progress, executables=executables, job_id=job_id,
        )  # fmt: skip
    return Graded(result=result.to_json(), log=result.log, internal=result.internal)


@dataclass(frozen=True)
class Graded:
    result: dict[str, Any]
    log: str
    internal: bool = False


def submission_grade(*, submission_id: int, task_id: str, retry: int = 0, retries: int = 0) -> str:
    """Grade one submission fully (the Celery task's body). Returns what happened, for the logs.

    InfrastructureError is re-raised for the task to retry (the submission goes back to queued,
    flagged delayed) unless this was the last retry: then it stays queued for the janitor.
    Anything else of Drydock's own ends as an `error` that is not one of the learner's attempts.
    """
    job_id = uuid.uuid4().hex[:12]
    submission, dead_job = _claim(submission_id=submission_id, task_id=task_id, job_id=job_id)
    if submission is None:
        return _refuse(submission_id=submission_id, task_id=task_id)
    if dead_job:
        _job_remove(dead_job)
    progress = ProgressWriter(submission_id, task_id)
    try:
        graded = _grade(submission, job_id=job_id, progress=progress)
        if dead_job:  # again: a build the engine was still finishing for the dead run
            _job_remove(dead_job)
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
    except Exception as error:
        logger.exception("submission %s: grading crashed", submission_id)
        _finish_infrastructure_error(
            submission_id=submission_id,
            task_id=task_id,
            message=INFRA_ERROR,
            detail=f"{type(error).__name__}: {error}",
        )
        raise
    if graded.internal:
        _finish_infrastructure_error(
            submission_id=submission_id,
            task_id=task_id,
            message=INFRA_ERROR,
            detail=graded.result.get("error") or "",
        )
        return "internal-error"
    _finish(
        submission_id=submission_id,
        task_id=task_id,
        result=graded.result,
        log=graded.log or progress.log,
    )
    return str(graded.result["status"])


def _refuse(*, submission_id: int, task_id: str) -> str:
    """A run that must not grade. If its own task was redelivered past the attempt limit (its
    worker keeps dying), the grading ends now as Drydock's fault instead of at the deadline."""
    worn_out = Submission.objects.filter(
        pk=submission_id, task_id=task_id, status__in=Submission.ACTIVE,
        grading_attempts__gte=_attempt_limit(),
    ).exists()  # fmt: skip
    if worn_out and _finish_infrastructure_error(
        submission_id=submission_id,
        task_id=task_id,
        message=INFRA_WORKER_LOST,
        detail="redelivered past the attempt limit: its worker was lost every time",
    ):
        return "worker-lost"
    return "skipped"


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
    submission.log = log_tail(log)
    submission.finished_at = timezone.now()
    submission.deadline_at = None
    submission.is_infrastructure_error = False
    submission.grading_delayed = False
    if submission.attempt is None and not submission.settled_statically:
        lock_learner(submission.learner_id)
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


# Regrading --------------------------------------------------------------------------------


def submission_regrade(*, submission: Submission, by: User | None = None) -> bool:
    """Grade a finished (or delayed) submission again, in place; False if it is being graded now.

    The files and the static result stay; the grading it replaces is kept in `gradings` (who
    asked for it, when, what came out), so nothing an instructor or a learner saw is lost. A
    submission the static analysis had settled becomes an attempt when the regrade grades it.
    """
    now = timezone.now()
    with transaction.atomic():
        current = (
            Submission.objects.select_for_update()
            .filter(pk=submission.pk, status__in=(*Submission.FINISHED, Submission.Status.QUEUED))
            .first()
        )
        if current is None:
            return False
        if current.is_finished:
            keep_grading(current, by=by, now=now)
        Submission.objects.filter(pk=current.pk).update(
            status=Submission.Status.QUEUED,
            stage_message=STAGE_REGRADE,
            result=None,
            job_spec=None,  # a regrade applies today's rules: the whole grading runs again
            score=None,
            checks_passed=None,
            log="",
            started_at=None,
            finished_at=None,
            deadline_at=None,
            is_infrastructure_error=False,
            settled_statically=False,
            grading_delayed=False,
            internal_error="",
            enqueued_at=now,
            regraded_by=by,
            regrade_count=F("regrade_count") + 1,
        )
        SubmissionCheck.objects.filter(submission_id=current.pk).delete()
        from .intake import submission_enqueue

        transaction.on_commit(partial(submission_enqueue, submission_id=current.pk))
    return True


def submissions_regrade(*, submissions: Iterable[Submission], by: User | None = None) -> int:
    return sum(submission_regrade(submission=submission, by=by) for submission in submissions)


# The janitor's writes -------------------------------------------------------------------------


def submissions_end_stuck(*, now: datetime) -> int:
    """Submissions still being graded past their deadline: their worker was lost."""
    ended = 0
    for submission_id in (
        Submission.objects.active().filter(deadline_at__lt=now).values_list("pk", flat=True)
    ):
        stuck = Submission.objects.filter(
            pk=submission_id, deadline_at__lt=now, status__in=Submission.ACTIVE
        )
        ended += stuck.update(
            status=Submission.Status.ERROR,
            is_infrastructure_error=True,
            stage_message=INFRA_STUCK,
            internal_error="past its deadline: the worker grading it was lost",
            finished_at=now,
            deadline_at=None,
        )
    return ended


def submissions_expire_queued(*, now: datetime) -> int:
    """Submissions queued for longer than DRYDOCK_QUEUE_MAX_AGE_S end as Drydock's error."""
    return Submission.objects.filter(
        status=Submission.Status.QUEUED,
        created_at__lt=now - timedelta(seconds=settings.DRYDOCK_QUEUE_MAX_AGE_S),
    ).update(
        status=Submission.Status.ERROR,
        is_infrastructure_error=True,
        grading_delayed=False,
        stage_message=INFRA_EXPIRED,
        finished_at=now,
    )
