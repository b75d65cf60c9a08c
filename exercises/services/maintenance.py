"""The periodic clean-up (celery beat): engine leftovers, stuck, expired and delayed submissions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ..grading import grader, sandbox
from ..models import Submission
from . import lifecycle
from .intake import submission_enqueue


def submissions_janitor(*, now: datetime | None = None, requeue_limit: int = 200) -> dict[str, Any]:
    """One janitor round.

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
    report["stuck"] = lifecycle.submissions_end_stuck(now=now)
    report["expired"] = lifecycle.submissions_expire_queued(now=now)
    orphans = (
        Submission.objects.filter(status=Submission.Status.QUEUED)
        .filter(
            Q(enqueued_at__isnull=True)
            | Q(enqueued_at__lt=now - timedelta(seconds=settings.DRYDOCK_REQUEUE_AFTER_S))
        )
        .order_by("created_at")
    )
    for submission_id in list(orphans.values_list("pk", flat=True)[:requeue_limit]):
        Submission.objects.filter(pk=submission_id, status=Submission.Status.QUEUED).update(
            enqueued_at=now
        )
        report["requeued"] += submission_enqueue(submission_id=submission_id)
    return report
