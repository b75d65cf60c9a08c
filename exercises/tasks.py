"""Celery tasks: thin wrappers over the services (fetch by id, call, let Celery retry).

Only Drydock's transient infrastructure faults are retried (engine or broker unreachable);
a learner's mistake is a result, never an exception.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from . import services


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.DRYDOCK_GRADING_SOFT_TIME_LIMIT,
    time_limit=settings.DRYDOCK_GRADING_TIME_LIMIT,
    autoretry_for=services.TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=settings.DRYDOCK_GRADING_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=settings.DRYDOCK_GRADING_MAX_RETRIES,
)
def grade_submission(self, submission_id: int) -> str:
    """Grade one submission on this worker's engine (DOCKER_HOST); queue `grading` (see settings)."""
    return services.submission_grade(
        submission_id=submission_id,
        task_id=self.request.id,
        retry=self.request.retries,
        retries=self.max_retries,
    )


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)
def janitor() -> dict[str, Any]:
    """Periodic (celery beat, drydock/celery.py): engine clean-up, stuck and delayed submissions."""
    return services.submissions_janitor()
