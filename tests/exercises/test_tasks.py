"""The Celery wiring: declared options, routes, time limits and the beat schedule.

(The tasks themselves run on a real worker in tests/worker.)
"""

from __future__ import annotations

from django.conf import settings

from drydock.celery import app
from exercises import tasks
from exercises.grading.types import InfrastructureError


def test_grading_task_is_declared_for_long_idempotent_runs():
    task = tasks.grade_submission
    assert task.acks_late and task.reject_on_worker_lost
    assert (
        task.soft_time_limit
        == settings.DRYDOCK_GRADING_SOFT_TIME_LIMIT
        < task.time_limit
        == settings.DRYDOCK_GRADING_TIME_LIMIT
    )
    assert (
        InfrastructureError in task.autoretry_for and task.retry_backoff and task.max_retries == 5
    )
    assert not any(
        issubclass(ValueError, error) for error in task.autoretry_for
    )  # no blanket retry


def test_grading_goes_to_its_own_queue_and_one_task_at_a_time():
    assert app.amqp.router.route({}, "exercises.tasks.grade_submission")["queue"].name == "grading"
    assert app.amqp.router.route({}, "exercises.tasks.janitor")["queue"].name == "celery"
    assert app.conf.worker_prefetch_multiplier == 1 and app.conf.task_acks_late


def test_redis_visibility_timeout_outlasts_a_grading_and_its_retries():
    timeout = app.conf.broker_transport_options["visibility_timeout"]
    assert timeout > settings.DRYDOCK_GRADING_TIME_LIMIT
    assert timeout > settings.DRYDOCK_GRADING_RETRY_BACKOFF_MAX


def test_beat_runs_the_janitor_every_interval():
    app.loader.import_default_modules()
    entry = app.conf.beat_schedule["grading-janitor"]
    assert entry["task"] == "exercises.tasks.janitor"
    assert entry["schedule"] == settings.DRYDOCK_JANITOR_INTERVAL_S == 60
    assert entry["options"]["expires"] == 60
