"""Taking a submission in: validate the files, apply the limit, grade statically, enqueue."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime
from functools import partial
from math import ceil
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..grading import grader
from ..grading.types import Status
from ..models import Exercise, Submission
from . import lifecycle
from .quota import lock_learner, rate_limit_message, submission_quota

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# Learner-facing messages are constants: the views show them, the tests assert on them.
DOCKERFILE = "Dockerfile"
COMPOSE_FILE = "docker-compose.yml"
DOCKERIGNORE = ".dockerignore"
MAX_FILE_BYTES = 256 * 1024  # the grader's own per-file limit
MAX_FILES = 8
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


def as_bytes(files: Mapping[str, str]) -> dict[str, bytes]:
    return {name: text.encode("utf-8") for name, text in files.items()}


_INTERNAL_ERROR_PREFIX = grader.UNEXPECTED.split("{", 1)[0]


def is_internal_error(result: dict[str, Any]) -> bool:
    """The grader reports a bug of its own as `status: error` with its UNEXPECTED message:
    that is Drydock's fault, not the learner's, so it must not count as an attempt."""
    return result.get("status") == Status.ERROR and (result.get("error") or "").startswith(
        _INTERNAL_ERROR_PREFIX
    )


def static_grade(
    *, exercise_slug: str, files: Mapping[str, str], executables: Collection[str] = ()
) -> dict[str, Any] | None:
    """The static result (no engine, a few hundred ms), or None when it could not be computed."""
    try:
        result = grader.grade_files(
            as_bytes(files), exercise=exercise_slug, static_only=True, executables=executables
        ).to_json()
    except Exception:  # InfrastructureError (a tool missing...): the worker will report it properly
        logger.exception("static grading failed for a submission to %s", exercise_slug)
        return None
    return None if is_internal_error(result) else result


def settles_statically(static: dict[str, Any] | None) -> bool:
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
    static = static_grade(exercise_slug=exercise.slug, files=cleaned, executables=executables)
    settled = settles_statically(static)
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
