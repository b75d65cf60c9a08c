"""Taking a submission in: validate the files, apply the limit, grade statically, enqueue."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..grading import grader
from ..grading.files import WHOLE, files_problems
from ..grading.types import InfrastructureError, Status
from ..models import Exercise, Submission
from . import lifecycle
from .quota import lock_learner, rate_limit_message, submission_quota

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# The limits and the messages about the files are the grader's (one validation, one set of
# limits: exercises.grading.files); only what the form itself adds is defined here.
DOCKERIGNORE = ".dockerignore"
ALL_FILES = "__all__"  # error key of errors about the submission as a whole
FILE_RESERVED_NAME = "{name} has its own field: paste or upload it there, not as an extra file."
FILE_DUPLICATE = "{name} was submitted twice."

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


def files_as_bytes(files: Mapping[str, bytes | str]) -> dict[str, bytes]:
    """The request's files as bytes (pasted text is encoded once; uploads already are)."""
    return {n: c.encode("utf-8") if isinstance(c, str) else c for n, c in files.items()}


def submission_files_clean(*, files: Mapping[str, bytes | str]) -> dict[str, str]:
    """Validate with the grader's rules; return name → text, or raise SubmissionError.

    Every problem is reported at once, so the learner fixes everything in one go.
    """
    problems = files_problems(files_as_bytes(files))
    if problems:
        raise SubmissionError({(k if k != WHOLE else ALL_FILES): v for k, v in problems.items()})
    return {name: _text(content) for name, content in files.items()}


def _text(content: bytes | str) -> str:
    return content if isinstance(content, str) else content.decode("utf-8")


def static_grade(
    *, exercise_slug: str, files: Mapping[str, bytes | str], executables: Collection[str] = ()
) -> dict[str, Any] | None:
    """The static result (no engine, a few hundred ms), or None when it could not be computed."""
    return static_pass(exercise_slug=exercise_slug, files=files, executables=executables)[0]


def static_pass(
    *, exercise_slug: str, files: Mapping[str, bytes | str], executables: Collection[str] = ()
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the static result, the job spec the worker will run), or (None, None) when the static
    pass could not be done: then the worker grades the whole submission itself."""
    try:
        result, spec = grader.grade_static(
            files_as_bytes(files), exercise=exercise_slug, executables=executables
        )
    except InfrastructureError:  # a tool missing...: the worker will report it properly
        logger.exception("static grading failed for a submission to %s", exercise_slug)
        return None, None
    if result.internal:  # a bug of ours: not the learner's result
        return None, None
    return result.to_json(), spec


def _settles_statically(static: dict[str, Any] | None) -> bool:
    """A static error or a rejection is final: nothing would be built."""
    return static is not None and static["status"] in (Status.REJECTED, Status.ERROR)


def _check_quota(*, learner: User, settled: bool, now: datetime) -> None:
    quota = submission_quota(learner=learner, now=now)
    if not quota.allows(settled_statically=settled):
        message, retry_at = rate_limit_message(quota, settled_statically=settled, now=now)
        raise SubmissionRateLimited(message, retry_at=retry_at)


def submission_rate_check(*, learner: User, now: datetime | None = None) -> None:
    """Raise SubmissionRateLimited when the learner used up their attempts in the window."""
    _check_quota(learner=learner, settled=False, now=now or timezone.now())


def submission_create(
    *,
    learner: User,
    exercise: Exercise,
    files: Mapping[str, bytes | str],
    executables: Collection[str] = (),
) -> Submission:
    """Accept a learner's files: validate, grade statically, rate-limit, then enqueue the full grading.

    The static result is stored at once. A submission the static analysis already settles
    (rejected by the sandbox policy, or an error in the files) is final and not an attempt: it
    does not count against the limit. Any other is queued and graded by a worker after this
    transaction commits.
    """
    cleaned = submission_files_clean(files=files)
    executables = sorted(set(executables) & set(cleaned))
    static, spec = static_pass(exercise_slug=exercise.slug, files=files, executables=executables)
    settled = _settles_statically(static)
    now = timezone.now()
    _check_quota(learner=learner, settled=settled, now=now)  # cheap early answer
    with transaction.atomic():
        lock_learner(learner.pk)
        _check_quota(learner=learner, settled=settled, now=now)
        submission = Submission(
            learner=learner,
            exercise=exercise,
            files=cleaned,
            executables=executables,
            static_result=static,
            job_spec=spec,
            mode="static" if settings.DRYDOCK_GRADING_STATIC_ONLY else "full",
            created_at=now,
        )
        if settled:
            lifecycle.submission_settle_statically(submission, result=static, now=now)
            return submission
        lifecycle.submission_queue_new(submission, now=now)
        transaction.on_commit(partial(submission_enqueue, submission_id=submission.pk))
    return submission


def submission_enqueue(*, submission_id: int) -> bool:
    """Publish the grading task; if the broker is unreachable keep the submission, flagged delayed.

    The janitor re-enqueues delayed submissions, so they are graded once the broker is back.
    """
    from ..tasks import grade_submission  # the tasks module imports this package

    try:
        grade_submission.apply_async(args=[submission_id])
    except Exception as error:  # kombu's OperationalError, redis errors, OSError...
        logger.warning("could not enqueue submission %s: %s", submission_id, error)
        lifecycle.submission_mark_delayed(submission_id=submission_id)
        return False
    return True
