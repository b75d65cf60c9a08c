"""The verdict before teardown: `observe` returns the observations while the job's
resources are still being removed, and the teardown always completes after it."""

from __future__ import annotations

import threading

import pytest

from exercises.grading import sandbox
from exercises.grading.sandbox.job import SandboxJob
from exercises.grading.sandbox.teardown import Teardowns
from exercises.grading.types import SandboxLimits

from .conftest import job_leftovers


class _Job:
    def __init__(self, job_id: str, gate: threading.Event) -> None:
        self.job_id, self.gate, self.done = job_id, gate, False

    def teardown(self) -> None:
        self.gate.wait(10)
        self.done = True


class _Client:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_teardowns_run_after_and_can_be_waited_for():
    teardowns, gate = Teardowns(), threading.Event()
    jobs, clients = [_Job(f"j{i}", gate) for i in range(3)], [_Client() for _ in range(3)]
    for job, client in zip(jobs, clients, strict=True):
        teardowns.start(job, client)  # type: ignore[arg-type]

    assert teardowns.wait(keep=0, timeout=0.05) is False  # still running
    gate.set()
    assert teardowns.wait(keep=0) is True
    assert all(job.done for job in jobs) and all(client.closed for client in clients)


@pytest.mark.engine
@pytest.mark.slow
def test_the_observations_come_before_the_teardown(make_plan, docker_client, monkeypatch):
    gate, original = threading.Event(), SandboxJob.teardown

    def held_teardown(job: SandboxJob) -> None:
        gate.wait(120)
        original(job)

    monkeypatch.setattr(SandboxJob, "teardown", held_teardown)
    plan = make_plan()

    observations = sandbox.observe(plan, SandboxLimits(build_timeout_s=240, run_timeout_s=90))

    assert observations.services["app"].health_ok, observations.services["app"].health_output
    assert job_leftovers(docker_client, plan.job_id)["containers"]  # not torn down yet
    gate.set()
    assert sandbox.wait_for_teardown(timeout=120)
    assert not any(job_leftovers(docker_client, plan.job_id).values())
