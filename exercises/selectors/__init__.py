"""Read-side queries and presenters, one concern per module; public names importable from here.

- `pages`: the exercise page, a learner's submissions, progress, the editor preview;
- `reports`: a result laid out for the learner (rows, findings on the files' lines);
- `diffs`: two attempts side by side;
- `health`: the "grading is delayed" banner;
- `staff`: the instructors' dashboard and the grades CSV.
"""

from __future__ import annotations

from .diffs import (
    CheckChange,
    DiffLine,
    FileDiff,
    SplitFileDiff,
    SplitRow,
    checks_changed,
    submission_diff,
    submission_split_diff,
)
from .health import HEALTH_CACHE_KEY, GradingHealth, grading_health
from .pages import (
    LOG_TAIL_LINES,
    PREVIEW_LEXERS,
    SubmissionProgress,
    checklist_links,
    code_preview_html,
    editor_files_for_learner,
    exercise_get,
    exercise_lesson_url,
    submission_get_for_learner,
    submission_progress,
    submissions_for_learner,
)
from .reports import CheckRow, SubmissionReport, submission_report
from .staff import (
    GRADE_COLUMNS,
    GradingRow,
    Outcomes,
    PassRate,
    SubmissionFilters,
    best_attempts,
    check_pass_rates,
    grade_rows,
    submission_gradings,
    submission_outcomes,
    submissions_filter,
)

__all__ = [
    "CheckChange", "SplitFileDiff", "SplitRow", "checks_changed", "submission_split_diff", "GRADE_COLUMNS", "GradingRow", "Outcomes", "best_attempts", "submission_gradings", "submission_outcomes", "HEALTH_CACHE_KEY", "LOG_TAIL_LINES", "PREVIEW_LEXERS", "CheckRow",
    "DiffLine", "FileDiff", "GradingHealth", "PassRate", "SubmissionFilters", "SubmissionProgress",
    "SubmissionReport", "check_pass_rates", "checklist_links", "code_preview_html", "editor_files_for_learner",
    "exercise_get", "exercise_lesson_url", "grade_rows", "grading_health", "submission_diff",
    "submission_get_for_learner", "submission_progress", "submission_report",
    "submissions_filter", "submissions_for_learner",
]  # fmt: skip
