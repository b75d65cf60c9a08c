"""A grading whose worker process is killed mid-build resumes at once (real worker, engine)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from exercises import services
from exercises.models import Submission
from tests.exercises.conftest import REFERENCE

from .fixtures import poll_statuses, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.engine]
S = Submission.Status
VERDICT_WITHIN_S = 240  # far below the janitor's deadline (the hard time limit + 60 s)


@pytest.fixture
def exercise(transactional_db):
    return services.exercise_load(slug="docker-production")


@pytest.fixture
def learner(transactional_db, django_user_model):
    return django_user_model.objects.create_user("killed-learner", password="pw-learner-123")


def children(pid: int) -> list[int]:
    """The worker's pool processes (no psutil: /proc is enough on Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def leftovers(job_id: str) -> dict[str, int]:
    """What the grading engine still holds of job `job_id` (everything a job creates is labelled)."""
    from exercises.grading import sandbox
    from exercises.grading.sandbox.client import LABEL_JOB

    client = sandbox.connect(timeout=30)
    try:
        api, label = client.api, {"label": f"{LABEL_JOB}={job_id}"}
        return {
            "containers": len(api.containers(all=True, filters=label)),
            "networks": len(api.networks(filters=label)),
            "volumes": len(api.volumes(filters=label).get("Volumes") or []),
            "images": len(api.images(all=True, filters=label)),
        }
    finally:
        client.close()


def test_a_grading_whose_worker_process_is_killed_mid_build_resumes_promptly(
    start_celery, engine_ready, learner, exercise
):
    worker = start_celery(DRYDOCK_GRADING_ENGINE=f"unix://{engine_ready}", concurrency=1)
    submission = services.submission_create(learner=learner, exercise=exercise, files=REFERENCE)
    poll_statuses(submission.pk, until=lambda row: row.status == S.BUILDING, timeout=120)
    building = Submission.objects.get(pk=submission.pk)
    (child,) = children(worker.process.pid)
    os.kill(child, signal.SIGKILL)  # what the kernel's OOM killer does to a pool process
    killed_at = time.monotonic()

    seen = poll_statuses(
        submission.pk, until=lambda row: row.status in Submission.FINISHED, timeout=VERDICT_WITHIN_S
    )
    row = Submission.objects.get(pk=submission.pk)
    assert row.status == S.PASSED, f"{seen} {row.stage_message}\n{worker.tail()}"
    assert (row.attempt, row.checks_passed, row.is_infrastructure_error) == (1, 7, False)
    assert row.task_id == building.task_id and row.grading_attempts == 2  # the same task, resumed
    assert row.job_id != building.job_id
    assert time.monotonic() - killed_at < VERDICT_WITHIN_S
    assert (
        "WorkerLostError" in worker.log.read_text()
        or "exited prematurely" in worker.log.read_text()
    )
    empty = {"containers": 0, "networks": 0, "volumes": 0, "images": 0}
    wait_for(  # the new job's teardown may still be finishing once the verdict is stored
        lambda: leftovers(row.job_id) == empty, timeout=60, interval=1, what="the job's teardown"
    )
    assert leftovers(building.job_id) == empty, "the killed job left resources on the engine"
