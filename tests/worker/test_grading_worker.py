"""Grading through a real Redis broker and real Celery worker subprocesses (never eager mode)."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from exercises import services
from exercises.models import Submission
from tests.exercises.conftest import REFERENCE

from .fixtures import point_app_at, poll_statuses, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow]
S = Submission.Status
DEAD_ENGINE = "unix:///nonexistent/drydock-test/docker.sock"
TIMINGS = Path(__file__).resolve().parents[2] / "test-artifacts" / "grading-timings.json"


@pytest.fixture
def exercise(transactional_db):
    return services.exercise_load(slug="docker-production")


@pytest.fixture
def learner(transactional_db, django_user_model):
    return django_user_model.objects.create_user("worker-learner", password="pw-learner-123")


def record_timing(name: str, seconds: float) -> None:
    TIMINGS.parent.mkdir(exist_ok=True)
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    timings[name] = round(seconds, 2)
    TIMINGS.write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")


def finished(row) -> bool:
    return row.status in Submission.FINISHED


@override_settings(DRYDOCK_GRADING_STATIC_ONLY=True)
def test_static_only_grading_runs_on_the_worker(start_celery, learner, exercise):
    worker = start_celery(
        DRYDOCK_GRADING_ENGINE=DEAD_ENGINE
    )  # static grading never needs the engine
    started = time.monotonic()
    submission = services.submission_create(learner=learner, exercise=exercise, files=REFERENCE)
    static_s = time.monotonic() - started
    assert submission.static_result["status"] == "passed" and submission.mode == "static"
    poll_statuses(submission.pk, until=finished, timeout=30)
    record_timing("static: submit to static result (s)", static_s)
    record_timing(
        "static-only mode: submit to final result on the worker (s)", time.monotonic() - started
    )
    submission.refresh_from_db()
    assert (submission.status, submission.attempt, submission.checks_passed) == (S.PASSED, 1, 7), (
        worker.tail()
    )
    assert (
        submission.result["mode"] == "static"
        and submission.task_id
        and submission.grading_attempts == 1
    )
    from exercises.selectors import grading_health

    health = grading_health(refresh=True)  # the banner's check sees the worker (and no engine)
    assert (health.broker, health.workers >= 1) == (True, True)


@pytest.mark.engine
def test_the_reference_answer_passes_7_of_7_on_a_real_engine(
    start_celery, engine_ready, learner, exercise
):
    worker = start_celery(DRYDOCK_GRADING_ENGINE=f"unix://{engine_ready}")
    started = time.monotonic()
    submission = services.submission_create(learner=learner, exercise=exercise, files=REFERENCE)
    static_s = time.monotonic() - started
    seen = poll_statuses(submission.pk, until=finished, timeout=300)
    record_timing("full: submit to static result (s)", static_s)
    record_timing("full: submit to final result, reference answer (s)", time.monotonic() - started)
    submission.refresh_from_db()
    assert submission.status == S.PASSED, f"{submission.result}\n{worker.tail()}"
    assert (submission.checks_passed, submission.score, submission.attempt) == (7, 100, 1)
    assert submission.result["mode"] == "full" and submission.result["timings"]["build_ms"] > 0
    assert "building" in seen and seen[-1] == "passed", seen
    assert submission.log and submission.check_outcomes.filter(passed=True).count() == 7


@pytest.mark.engine
def test_an_unreachable_engine_is_retried_and_graded_once_it_is_back(
    start_celery, engine_ready, learner, exercise, tmp_path
):
    socket_link = tmp_path / "docker.sock"  # dead until the link to the real socket appears
    worker = start_celery(DRYDOCK_GRADING_ENGINE=f"unix://{socket_link}")
    submission = services.submission_create(learner=learner, exercise=exercise, files=REFERENCE)

    def retried(row=None):
        row = Submission.objects.get(pk=submission.pk)
        return row.grading_attempts >= 2 and row.status == S.QUEUED and row.grading_delayed

    wait_for(retried, timeout=60, what=f"a retry after the engine fault\n{worker.tail()}")
    row = Submission.objects.get(pk=submission.pk)
    assert row.attempt is None and not row.is_infrastructure_error
    assert row.stage_message.startswith("Grading is delayed by a problem on Drydock's side")
    assert "engine unreachable" in row.internal_error

    os.symlink(engine_ready, socket_link)  # the engine is back
    poll_statuses(submission.pk, until=finished, timeout=300)
    submission.refresh_from_db()
    assert submission.status == S.PASSED, f"{submission.result}\n{worker.tail()}"
    assert (
        submission.attempt == 1
        and not submission.grading_delayed
        and submission.grading_attempts >= 3
    )
    assert "Retry in" in worker.log.read_text()


def test_beat_runs_the_janitor_which_ends_a_stuck_grading(start_celery, learner, exercise):
    now = timezone.now()
    stuck = Submission.objects.create(
        learner=learner, exercise=exercise, files=REFERENCE, status=S.BUILDING, task_id="lost",
        started_at=now - timedelta(minutes=20), deadline_at=now - timedelta(seconds=5),
    )  # fmt: skip
    alive = Submission.objects.create(
        learner=learner, exercise=exercise, files=REFERENCE, status=S.RUNNING, task_id="alive",
        started_at=now, deadline_at=now + timedelta(minutes=10),
    )  # fmt: skip
    # the engine part of the janitor fails (dead engine) and the database part still runs
    worker = start_celery(DRYDOCK_GRADING_ENGINE=DEAD_ENGINE)
    beat = start_celery("beat", DRYDOCK_JANITOR_INTERVAL_S="1")
    poll_statuses(stuck.pk, until=finished, timeout=60)
    stuck.refresh_from_db()
    assert (stuck.status, stuck.is_infrastructure_error, stuck.attempt) == (S.ERROR, True, None), (
        beat.tail()
    )
    assert stuck.stage_message == services.INFRA_STUCK
    assert Submission.objects.get(pk=alive.pk).status == S.RUNNING
    assert "exercises.tasks.janitor" in worker.log.read_text()


@override_settings(DRYDOCK_GRADING_STATIC_ONLY=True)
def test_a_submission_made_while_the_broker_is_down_is_graded_once_it_is_back(
    start_celery, broker, learner, exercise
):
    from exercises.tasks import janitor

    start_celery(DRYDOCK_GRADING_ENGINE=DEAD_ENGINE)
    point_app_at("redis://127.0.0.1:9/0")  # the broker is down for the web process
    started = time.monotonic()
    submission = services.submission_create(learner=learner, exercise=exercise, files=REFERENCE)
    elapsed = time.monotonic() - started
    submission.refresh_from_db()
    assert (
        submission.status == S.QUEUED
        and submission.grading_delayed
        and submission.enqueued_at is None
    )
    assert (
        submission.static_result["status"] == "passed"
    )  # the learner still sees the instant checks
    assert elapsed < 5, f"submitting took {elapsed:.1f}s with the broker down"

    point_app_at(broker)  # back: the next janitor run re-enqueues it
    janitor.delay()
    poll_statuses(submission.pk, until=finished, timeout=60)
    submission.refresh_from_db()
    assert (submission.status, submission.attempt, submission.grading_delayed) == (
        S.PASSED,
        1,
        False,
    )
