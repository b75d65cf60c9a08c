"""Write-side operations, one concern per module; every public name is importable from here.

- `exercises`: loading an exercise from its assets, the starter project;
- `intake`: validating a learner's files (with the grader's rules and limits), the limit, the
  static pass (its result and job spec are stored for the worker), enqueueing;
- `quota`: the submission limit and what is left of it;
- `lifecycle`: the grading lifecycle, the only writer of `Submission.status` (worker, regrades),
  with `progress` (the running stages while a worker grades) and `history` (kept gradings);
- `live`: the static checks while the learner types (nothing stored);
- `maintenance`: the janitor.
"""

from __future__ import annotations

from ..grading import grader, sandbox
from ..grading.files import (
    COMPOSE_FILE,
    DOCKERFILE,
    FILE_BAD_NAME,
    FILE_BINARY,
    FILE_NOT_UTF8,
    FILE_REQUIRED,
    FILE_TOO_LARGE,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_TOTAL_BYTES,
    TOO_MANY_FILES,
    TOO_MUCH,
)
from .exercises import (
    DEFAULT_TITLE,
    exercise_assets_dir,
    exercise_load,
    starter_editor_files,
    starter_zip,
)
from .intake import (
    ALL_FILES,
    DOCKERIGNORE,
    FILE_DUPLICATE,
    FILE_RESERVED_NAME,
    SubmissionError,
    SubmissionRateLimited,
    static_grade,
    submission_create,
    submission_enqueue,
    submission_files_clean,
    submission_rate_check,
)
from .lifecycle import (
    DEADLINE_GRACE_S,
    GRADING_DELAYED,
    GRADING_RETRYING,
    INFRA_ERROR,
    INFRA_EXPIRED,
    INFRA_STUCK,
    INFRA_TIMEOUT,
    INFRA_WORKER_LOST,
    STAGE_QUEUED,
    STAGE_REGRADE,
    TRANSIENT_ERRORS,
    submission_grade,
    submission_regrade,
    submissions_regrade,
)
from .maintenance import submissions_janitor
from .progress import LOG_CAP_CHARS
from .quota import RATE_LIMITED, SubmissionQuota, submission_quota

__all__ = [
    "ALL_FILES", "COMPOSE_FILE", "DEADLINE_GRACE_S", "DEFAULT_TITLE", "DOCKERFILE", "DOCKERIGNORE",
    "FILE_BAD_NAME", "FILE_BINARY", "FILE_DUPLICATE", "FILE_NOT_UTF8", "INFRA_WORKER_LOST",
    "FILE_REQUIRED", "FILE_RESERVED_NAME", "FILE_TOO_LARGE", "GRADING_DELAYED", "GRADING_RETRYING",
    "INFRA_ERROR", "INFRA_EXPIRED", "INFRA_STUCK", "INFRA_TIMEOUT", "LOG_CAP_CHARS",
    "MAX_FILE_BYTES", "MAX_FILES", "MAX_TOTAL_BYTES", "TOO_MUCH", "RATE_LIMITED", "STAGE_QUEUED", "STAGE_REGRADE",
    "TOO_MANY_FILES", "TRANSIENT_ERRORS", "SubmissionError", "SubmissionQuota",
    "SubmissionRateLimited", "exercise_assets_dir", "exercise_load", "grader", "sandbox",
    "starter_editor_files", "starter_zip", "static_grade", "submission_create",
    "submission_enqueue", "submission_files_clean", "submission_grade", "submission_quota",
    "submission_rate_check", "submission_regrade", "submissions_janitor", "submissions_regrade",
]  # fmt: skip
