"""The gradings a regrade replaces, kept so that no result an instructor or a learner saw is lost."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ..models import Submission, SubmissionGrading

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def keep_grading(submission: Submission, *, by: User | None, now: datetime) -> None:
    """Copy the grading a regrade is about to replace into the submission's history."""
    number = submission.gradings.count() + 1
    SubmissionGrading.objects.create(
        submission=submission,
        number=number,
        requested_by_id=submission.regraded_by_id,
        requested_at=(submission.created_at if number == 1 else submission.enqueued_at)
        or submission.created_at,
        finished_at=submission.finished_at,
        status=submission.status,
        is_infrastructure_error=submission.is_infrastructure_error,
        score=submission.score,
        checks_passed=submission.checks_passed,
        result=submission.result,
        stage_message=submission.stage_message[:500],
        superseded_by=by,
        superseded_at=now,
    )
