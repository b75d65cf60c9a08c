"""Load: 12 full gradings submitted at once to a worker with concurrency 2 (as `scripts/run`
runs it on this 2-core machine), on the suite's private engine. Every one completes with the
result its files deserve, none times out spuriously, concurrent jobs never share a name, a
network or a published port, and the engine is left clean. Prints the wall time and each
job's latency."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from exercises import services
from exercises.grading.sandbox.client import LABEL_JOB, connect
from exercises.grading.sandbox.session import MAX_PENDING_TEARDOWNS
from exercises.grading.types import CHECK_IDS
from exercises.models import Submission
from tests.worker.fixtures import poll_statuses

from .figures import FIGURES, LOAD_JOBS
from .support import DC, DF, REFERENCE, REPO, job_labelled, replaced

pytestmark = [pytest.mark.figure("load"), pytest.mark.worker, pytest.mark.engine]
STARTER_DIR = REPO / "exercises" / "assets" / "docker-production" / "starter"
STARTER = {name: (STARTER_DIR / name).read_text() for name in (DF, DC)}
HEALTHCHECK = '"http://localhost:3000/health"]'
# (kind, files, expected status, the checks expected to fail)
MIX = [
    *[("reference", REFERENCE, "passed", set())] * 8,
    *[("development", STARTER, "failed", set(CHECK_IDS))] * 2,  # fails all seven
    ("runs-as-root", {**REFERENCE, DF: replaced(REFERENCE[DF], "USER appuser", "USER root")},
     "failed", {"non-root-user"}),
    ("wrong-health-port", {**REFERENCE, DC: replaced(REFERENCE[DC], HEALTHCHECK,
                                                     '"http://localhost:3999/health"]')},
     "failed", {"health-checks"}),
]  # fmt: skip
assert len(MIX) == LOAD_JOBS


class EngineWatch:
    """Samples the engine while the load runs: each job's container and network names, and at
    every moment whether two live jobs share a name or a subnet, or anything publishes a port."""

    def __init__(self) -> None:
        self.client = connect()
        self.jobs: set[str] = set()
        self.collisions: list[str] = []
        self.published: list[str] = []
        self.max_concurrent_jobs = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        label = {"label": LABEL_JOB}
        while not self._stop.wait(0.25):
            try:
                containers = self.client.api.containers(filters=label)
                networks = self.client.api.networks(filters=label)
            except Exception:  # noqa: BLE001 - a missed sample is harmless
                continue
            self.samples += 1
            owner: dict[str, str] = {}  # name or subnet -> the job holding it now
            claim = self._claimer(owner)
            live = set()
            for container in containers:
                job = container["Labels"][LABEL_JOB]
                live.add(job)
                claim(container["Names"][0], job)
                self.published += [f"{job}:{p}" for p in container.get("Ports") or []
                                   if p.get("PublicPort")]  # fmt: skip
            for network in networks:
                job = network["Labels"][LABEL_JOB]
                claim(network["Name"], job)
                for config in (network.get("IPAM") or {}).get("Config") or []:
                    claim(config.get("Subnet") or "?", job)
            self.jobs |= live
            self.max_concurrent_jobs = max(self.max_concurrent_jobs, len(live))

    def _claimer(self, owner: dict[str, str]):
        def claim(key: str, job: str) -> None:
            if owner.setdefault(key, job) != job:
                self.collisions.append(f"{key}: {owner[key]} and {job}")

        return claim

    def __enter__(self) -> EngineWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.client.close()


def test_twelve_gradings_at_once_with_two_workers(
    private_engine, start_celery, transactional_db, django_user_model, settings, engine_client
):
    exercise = services.exercise_load(slug="docker-production")
    settings.DRYDOCK_SUBMISSION_RATE = "100/600"
    learners = [django_user_model.objects.create_user(f"load-{i}", password="pw-load-1234")
                for i in range(LOAD_JOBS)]  # fmt: skip
    start_celery(concurrency=2)
    # one warm-up grading, so that the dev baseline and the layer cache are what they are in
    # production (built once), not part of every latency
    warm = services.submission_create(learner=learners[0], exercise=exercise, files=REFERENCE)
    poll_statuses(warm.pk, until=lambda row: row.status in Submission.FINISHED, timeout=300)
    Submission.objects.filter(pk=warm.pk).delete()

    with EngineWatch() as watch:
        started = time.monotonic()
        made = [services.submission_create(learner=learner, exercise=exercise, files=files)
                for learner, (_, files, _, _) in zip(learners, MIX, strict=True)]  # fmt: skip
        submit_s = time.monotonic() - started
        for submission in made:
            poll_statuses(submission.pk, until=lambda row: row.status in Submission.FINISHED,
                          timeout=900)  # fmt: skip
        wall_s = time.monotonic() - started

    rows = [Submission.objects.get(pk=s.pk) for s in made]
    correct, problems, latencies = 0, [], []
    for row, (kind, _, expected, failing) in zip(rows, MIX, strict=True):
        failed_checks = {c["id"] for c in (row.result or {}).get("checks", []) if not c["passed"]}
        latency = (row.finished_at - row.created_at).total_seconds()
        latencies.append(latency)
        timed_out = [e for c in (row.result or {}).get("checks", []) for e in c["evidence"]
                     if "timed out" in e and c["id"] not in failing]  # fmt: skip
        ok = (row.status == expected and failed_checks == failing and row.attempt == 1
              and not row.is_infrastructure_error and row.grading_attempts == 1 and not timed_out)  # fmt: skip
        correct += ok
        if not ok:
            problems.append((kind, row.status, sorted(failed_checks), row.grading_attempts,
                             row.stage_message[:120], timed_out[:1]))  # fmt: skip
        FIGURES.line(f"load job {len(latencies):2d} {kind:17s} {row.status:6s} latency "
                     f"{latency:5.1f}s (queued {(row.started_at - row.created_at).total_seconds():5.1f}s, "
                     f"graded in {(row.finished_at - row.started_at).total_seconds():4.1f}s)")  # fmt: skip
    FIGURES.load(graded=correct, total=LOAD_JOBS)
    FIGURES.line(f"load: {LOAD_JOBS} full gradings submitted in {submit_s:.1f}s, all finished after "
                 f"{wall_s:.0f}s wall time with concurrency 2; latency min {min(latencies):.0f}s, "
                 f"median {statistics.median(latencies):.0f}s, max {max(latencies):.0f}s; up to "
                 f"{watch.max_concurrent_jobs} jobs on the engine at once")  # fmt: skip

    assert problems == [], problems
    assert watch.collisions == [] and watch.published == []
    # two gradings side by side, plus the teardowns that follow their verdicts (at most
    # MAX_PENDING_TEARDOWNS per worker process)
    assert 2 <= watch.max_concurrent_jobs <= 2 * (1 + MAX_PENDING_TEARDOWNS), (
        "the two workers did not grade side by side"
    )
    assert job_labelled(engine_client, settle_s=60) == {  # the last teardowns follow verdicts
        "containers": [],
        "networks": [],
        "volumes": [],
        "images": [],
    }
    FIGURES.line(f"load isolation: {len(watch.jobs)} jobs seen in {watch.samples} samples of the "
                 "engine: no two live jobs shared a name or a subnet, no port was published; "
                 "engine clean afterwards")  # fmt: skip
