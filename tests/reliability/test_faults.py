"""Faults, through real Celery workers on a real Redis and the suite's private engine: a worker
killed mid-build, the engine restarted mid-run or down at submit time, Redis stopped while
submissions arrive, the database locked under the worker. Each ends in a state the learner
can read (graded, or `error` with a message that is not counted as an attempt), nothing
submitted is lost, the worker grades on afterwards, and nothing is left on the engine."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.utils import timezone

from exercises import services
from exercises.grading import grader
from exercises.grading.sandbox.client import LABEL_SERVICE, connect
from exercises.grading.sandbox.janitor import janitor
from exercises.grading.sandbox.limits import BUILD_CGROUP_PREFIX
from exercises.models import Submission
from tests.worker.fixtures import poll_statuses, wait_for

from .figures import FIGURES
from .support import DC, DF, REFERENCE, job_ids, job_labelled, replaced, unique

pytestmark = [pytest.mark.figure("fault"), pytest.mark.worker, pytest.mark.engine]
S = Submission.Status
NOTHING = {"containers": [], "networks": [], "volumes": [], "images": []}
WORKER_ENV = {"DRYDOCK_GRADING_RETRY_BACKOFF_MAX": "2"}


def finished(row) -> bool:
    return row.status in Submission.FINISHED


def slow_build(seconds: int) -> dict[str, str]:
    """The reference answer with a build step that takes `seconds` (and is never cached)."""
    step = "RUN npm run build\n"
    return {
        **REFERENCE,
        DF: replaced(REFERENCE[DF], step, step + f"RUN sleep {seconds} && echo {unique()}\n"),
    }


@pytest.fixture
def exercise(transactional_db):
    return services.exercise_load(slug="docker-production")


@pytest.fixture
def learners(transactional_db, django_user_model):
    made = iter(range(1000))
    return lambda: django_user_model.objects.create_user(
        f"fault-learner-{next(made)}", password="pw-learner-123"
    )


@pytest.fixture
def submit(exercise, learners, settings):
    settings.DRYDOCK_SUBMISSION_RATE = "100/600"

    def create(files: dict[str, str] = REFERENCE, learner=None) -> Submission:
        return services.submission_create(
            learner=learner or learners(), exercise=exercise, files=files
        )

    return create


@pytest.fixture
def stack(private_engine, scratch_root, start_celery, engine_client):
    """The worker set-up every fault starts from; afterwards the engine holds nothing."""
    yield {"engine": private_engine, "scratch": scratch_root, "start": start_celery}
    assert job_labelled(engine_client, settle_s=60) == NOTHING


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def build_running(job: str) -> bool:
    """A RUN step container of the job's build is running (its build cgroup has a member)."""
    cgroup = Path("/sys/fs/cgroup/pids") / f"{BUILD_CGROUP_PREFIX}{job}"
    return cgroup.is_dir() and any(p.is_dir() for p in cgroup.iterdir())


def janitor_after_deadline(submission: Submission) -> dict:
    """The periodic janitor, run as if the submission's deadline had passed."""
    row = Submission.objects.get(pk=submission.pk)
    now = (row.deadline_at or timezone.now()) + timedelta(seconds=1)
    return services.submissions_janitor(now=now)


def assert_learner_sees_a_final_state(submission: Submission) -> str:
    row = Submission.objects.get(pk=submission.pk)
    assert row.status in Submission.FINISHED, row.status
    if row.status == S.ERROR:
        assert row.stage_message and row.is_infrastructure_error and row.attempt is None
    return row.status


def assert_grades_on(submit, *, timeout: float = 240) -> float:
    """The worker still grades: a fresh reference answer passes."""
    started = time.monotonic()
    submission = submit()
    poll_statuses(submission.pk, until=finished, timeout=timeout)
    row = Submission.objects.get(pk=submission.pk)
    assert row.status == S.PASSED, (row.status, row.stage_message, row.result)
    return time.monotonic() - started


@pytest.mark.parametrize("victim", ["pool-process", "whole-worker"])
def test_worker_killed_in_the_middle_of_a_build(stack, submit, victim):
    worker = stack["start"](concurrency=1, **WORKER_ENV)
    submission = submit(slow_build(40))
    poll_statuses(submission.pk, until=lambda row: row.status == S.BUILDING, timeout=120)
    job = wait_for(
        lambda: Submission.objects.get(pk=submission.pk).job_id or None, timeout=30, what="a job"
    )  # the worker writes no scratch directory (one pass): the claim names the job
    wait_for(lambda: build_running(job), timeout=120, what="the slow RUN step")

    if victim == "pool-process":
        for child in children(worker.process.pid):
            os.kill(child, signal.SIGKILL)
    else:
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=10)
    killed_at = time.monotonic()

    # the engine cancels the build whose client died: no step container outlives it
    wait_for(lambda: not build_running(job), timeout=30, what="the orphaned build to stop")
    try:  # graded again by a redelivered task (or still shown as being graded)
        poll_statuses(submission.pk, until=finished, timeout=60)
        path = "graded again"
    except AssertionError:
        row = Submission.objects.get(pk=submission.pk)
        assert row.status in Submission.ACTIVE and row.deadline_at, row.status
        left_s = (row.deadline_at - timezone.now()).total_seconds()
        janitor_after_deadline(submission)
        path = f"shown as being graded until the janitor ended it at its deadline ({left_s / 60:.0f} min later)"
    outcome = assert_learner_sees_a_final_state(submission)

    task_id = Submission.objects.get(pk=submission.pk).task_id
    received = worker.log.read_text(errors="replace").count(f"[{task_id}] received")
    on_engine = sum(map(len, job_labelled(connect()).values()))
    report = janitor(
        older_than_s=0, sweep_scratch=grader.scratch_sweep
    )  # the periodic janitor, as if 30 minutes had passed
    assert job_labelled(connect()) == NOTHING
    assert job not in job_ids(stack["scratch"]), report
    if victim == "whole-worker":
        worker = stack["start"](concurrency=1, **WORKER_ENV)
    regrade_s = assert_grades_on(submit)
    FIGURES.line(
        f"fault worker-killed ({victim}): ends {outcome}, {path}; the task was delivered "
        f"{received}x; left behind {on_engine} engine resources and {report['scratch']} scratch "
        f"dirs, removed by the janitor; the next grading passed in {regrade_s:.0f}s "
        f"({time.monotonic() - killed_at:.0f}s after the kill)"
    )


def slow_start(seconds: int) -> dict[str, str]:
    """The reference answer whose app takes `seconds` to start listening (a long run phase)."""
    compose = REFERENCE[DC].replace(
        "    image: ${REGISTRY_URL}/myapp:${VERSION}-${BUILD_NUMBER}\n",
        "    image: ${REGISTRY_URL}/myapp:${VERSION}-${BUILD_NUMBER}\n"
        f'    command: ["sh", "-c", "sleep {seconds} && exec node dist/server.js"]\n',
        1,
    )
    return {
        **REFERENCE,
        DC: compose.replace("start_period: 5s", f"start_period: {seconds + 10}s", 1),
    }


def app_container_up() -> bool:
    client = connect()
    try:
        return bool(client.api.containers(filters={"label": f"{LABEL_SERVICE}=app"}))
    finally:
        client.close()


def test_engine_restarted_during_a_run(stack, submit):
    stack["start"](concurrency=2, **WORKER_ENV)
    stack["start"]("beat", DRYDOCK_JANITOR_INTERVAL_S="3")
    submission = submit(slow_start(12))
    poll_statuses(submission.pk, until=lambda row: row.status == S.RUNNING, timeout=180)
    wait_for(app_container_up, timeout=60, what="the app container")

    started = time.monotonic()
    stack["engine"].restart()  # like `systemctl restart docker`: the containers are stopped
    restart_s = time.monotonic() - started

    poll_statuses(submission.pk, until=finished, timeout=300)
    row = Submission.objects.get(pk=submission.pk)
    assert row.status == S.PASSED, (row.status, row.stage_message, row.internal_error)
    assert row.attempt == 1 and not row.is_infrastructure_error
    assert row.grading_attempts >= 2, "the interrupted run must not count as the result"
    # the interrupted run could not tear down (the engine was gone): the janitor's work
    left = sum(map(len, job_labelled(connect()).values()))
    report = janitor(
        older_than_s=0, sweep_scratch=grader.scratch_sweep
    )  # as if 30 minutes had passed
    assert report["errors"] == [], report
    # the retried run's own teardown (after its verdict) may still be removing its containers
    assert job_labelled(connect(), settle_s=30) == NOTHING, report
    FIGURES.line(f"fault engine-restart: the engine restarted mid-run in {restart_s:.0f}s; the run "
                 f"was retried and graded {row.status} (grading runs: {row.grading_attempts}, "
                 f"counted: 1); the interrupted run's {left} engine resources went to the janitor; "
                 f"interrupted by: {row.internal_error[:80] or '-'}")  # fmt: skip


def test_engine_unreachable_at_submit_time(stack, submit):
    stack["engine"].stop()
    try:
        stack["start"](concurrency=2, **WORKER_ENV)
        stack["start"]("beat", DRYDOCK_JANITOR_INTERVAL_S="3")
        submission = submit()
        assert submission.static_result["status"] == "passed"  # the instant checks need no engine

        def delayed() -> Submission | None:  # what the learner's page shows meanwhile
            row = Submission.objects.get(pk=submission.pk)
            return row if row.status == S.QUEUED and row.grading_attempts >= 2 else None

        row = wait_for(delayed, timeout=120, interval=0.05, what="a delayed grading")
        assert row.grading_delayed and row.attempt is None and not row.is_infrastructure_error
        message, shown = row.stage_message, row.status
        assert message == services.GRADING_DELAYED or message.startswith(
            "Grading is delayed by a problem on Drydock's side"
        ), message
        time.sleep(15)  # down for longer than the task's own retries last
    finally:
        start_s = stack["engine"].start()
    poll_statuses(submission.pk, until=finished, timeout=300)
    row = Submission.objects.get(pk=submission.pk)
    assert (row.status, row.attempt, row.grading_delayed) == (S.PASSED, 1, False), (
        row.internal_error
    )
    FIGURES.line(f"fault engine-down-at-submit: the learner saw {shown!r}: “{message[:60]}…”; "
                 f"back after {start_s:.0f}s of start-up, graded {row.status} "
                 f"(grading runs: {row.grading_attempts}, counted: 1)")  # fmt: skip


def test_redis_stopped_while_submissions_arrive(stack, submit, redis_server):
    stack["start"](concurrency=2, **WORKER_ENV)
    stack["start"]("beat", DRYDOCK_JANITOR_INTERVAL_S="3")
    before = [submit(slow_start(3)) for _ in range(2)]
    poll_statuses(before[0].pk, until=lambda row: row.status != S.QUEUED, timeout=60)

    redis_server.stop()
    try:
        started = time.monotonic()
        during = [submit() for _ in range(2)]
        submit_s = (time.monotonic() - started) / len(during)
        for submission in during:
            row = Submission.objects.get(pk=submission.pk)
            assert row.status == S.QUEUED and row.grading_delayed, row.status
            assert row.stage_message == services.GRADING_DELAYED
        time.sleep(10)
    finally:
        redis_server.start()

    everything = before + during
    for submission in everything:
        poll_statuses(submission.pk, until=finished, timeout=300)
    rows = [Submission.objects.get(pk=s.pk) for s in everything]
    assert [r.status for r in rows] == [S.PASSED] * len(rows), [
        (r.status, r.stage_message) for r in rows
    ]
    assert all(r.attempt == 1 and not r.grading_delayed for r in rows)
    FIGURES.line(f"fault redis-down: {len(before)} submissions in flight and {len(during)} made while "
                 f"Redis was down (each answered in {submit_s:.1f}s, kept as delayed); after Redis "
                 f"came back all {len(rows)} were graded {S.PASSED.value}, none lost")  # fmt: skip


def lock_database(seconds: float, locked: threading.Event) -> None:
    """Hold SQLite's write lock on the test database for `seconds` (as a long write would)."""
    path = connections["default"].settings_dict["NAME"]
    connection = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        connection.execute("COMMIT")
    finally:
        connection.close()


@pytest.mark.parametrize("seconds", [8, 75], ids=["briefly", "past-the-busy-timeout"])
def test_database_locked_under_the_worker(stack, submit, seconds):
    busy_timeout = django_settings.DATABASES["default"].get("OPTIONS", {}).get("timeout", 5)
    stack["start"](concurrency=1, **WORKER_ENV)
    submission = submit(slow_start(4))
    poll_statuses(submission.pk, until=lambda row: row.status == S.RUNNING, timeout=180)
    locked = threading.Event()
    holder = threading.Thread(target=lock_database, args=(seconds, locked), daemon=True)
    holder.start()
    locked.wait(timeout=30)
    holder.join(timeout=seconds + 60)

    try:
        poll_statuses(submission.pk, until=finished, timeout=90)
        path = "graded by its own run"
    except AssertionError:
        janitor_after_deadline(submission)
        path = "stuck until the janitor ended it at its deadline"
    outcome = assert_learner_sees_a_final_state(submission)
    if seconds < busy_timeout:
        assert outcome == S.PASSED, "a lock shorter than the busy timeout must not be noticed"
    regrade_s = assert_grades_on(submit)
    FIGURES.line(f"fault database-locked ({seconds}s, busy timeout {busy_timeout}s): ends "
                 f"{outcome}, {path}; the next grading passed in {regrade_s:.0f}s")  # fmt: skip
