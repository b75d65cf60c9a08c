"""Fast tests of the grader fixes the reliability suite led to (the suite's hostile and fault
tests show each of them end to end on a real engine)."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import docker
import pytest

from exercises.grading import grader
from exercises.grading.dockerfile import dockerfile_parse, external_sources
from exercises.grading.sandbox.build import build_image
from exercises.grading.sandbox.client import LABEL_JOB, NETWORK_NO_HOST_ADDRESS
from exercises.grading.sandbox.janitor import _janitor_cgroups, janitor
from exercises.grading.sandbox.job import SandboxJob
from exercises.grading.sandbox.limits import BUILD_CGROUP_PREFIX, DiskGuard
from exercises.grading.types import ProjectFile, SandboxLimits

CGROUP_PIDS = Path("/sys/fs/cgroup/pids")


def sources(text: str, args: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    images, urls = external_sources(dockerfile_parse(text), args or {})
    return [f"{s.what} {s.ref}" for s in images], [s.ref for s in urls]


def test_external_sources_follow_args_stages_env_and_onbuild():
    text = (
        "ARG REGISTRY=127.0.0.1:5000\n"
        "FROM ${REGISTRY}/base:1 AS build\n"
        "ARG U\nENV V=http://127.0.0.1:9/v\n"
        'ADD $U /u\nADD $V /v\nADD ["https://example.com/a", "/a"]\nADD local.txt /l\n'
        "ONBUILD ADD git@github.com:evil/x.git /x\n"
        "FROM scratch\nCOPY --from=build /x /x\nCOPY --from=0 /x /y\nCOPY --from=alpine:3 /z /z\n"
    )

    images, urls = sources(text, {"U": "http://10.0.0.1/u"})

    assert images == ["FROM 127.0.0.1:5000/base:1", "COPY --from alpine:3"]
    assert urls == ["http://10.0.0.1/u", "http://127.0.0.1:9/v", "https://example.com/a",
                    "git@github.com:evil/x.git"]  # fmt: skip
    assert sources(text, {"REGISTRY": "docker.io/library"})[0][0] == "FROM docker.io/library/base:1"


def test_external_sources_of_the_reference_are_its_two_bases(tmp_path):
    from .support import DF, REFERENCE

    assert sources(REFERENCE[DF]) == (["FROM node:18-alpine", "FROM node:18-alpine"], [])


def test_disk_guard_stops_the_writers_once(monkeypatch):
    written = iter([10, 50, 120, 500, 900])
    stops = []
    guard = DiskGuard(lambda: (next(written), "mostly app"), limit=100,
                             stop=lambda: stops.append(1), name="t", interval=0.01)  # fmt: skip
    guard.start()
    time.sleep(0.3)
    guard.close()
    assert stops == [1] and guard.exceeded == (120, "mostly app") and guard.peak == 120
    assert guard.message("the stack") == (
        "the stack wrote 0 MiB to disk, above the sandbox limit of 0 MiB, and was stopped "
        "(mostly app)"
    )


def test_disk_guard_survives_failed_measurements():
    calls = []

    def measure():
        calls.append(1)
        if len(calls) < 3:
            raise OSError("engine busy")
        return 0, ""

    guard = DiskGuard(measure, limit=1, stop=lambda: None, name="t", interval=0.01)
    guard.start()
    time.sleep(0.2)
    guard.close()
    assert len(calls) >= 3 and guard.exceeded is None


def test_scratch_sweep_removes_only_stale_job_directories(tmp_path, monkeypatch):
    monkeypatch.setenv(grader.SCRATCH_ENV, str(tmp_path))
    old = time.time() - 7200
    for name in ("job-aaaa", "job-aaaa.home", "upload-x1", "job-fresh", "other"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text("x")
    for name in ("job-aaaa", "job-aaaa.home", "upload-x1", "other"):
        os.utime(tmp_path / name, (old, old))

    assert grader.scratch_sweep(older_than_s=3600) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job-fresh", "other"]


def test_janitor_never_removes_a_young_build_cgroup(engine_client):
    """A build's cgroup is empty between two RUN steps; removing it would drop the pids limit
    of the build's next steps."""
    if not CGROUP_PIDS.is_dir():
        pytest.skip("no cgroup v1 pids controller")
    name = f"{BUILD_CGROUP_PREFIX}reliability-{uuid.uuid4().hex[:8]}"
    (CGROUP_PIDS / name).mkdir()
    try:
        _janitor_cgroups(engine_client, cutoff=time.time() + 60)
        assert (CGROUP_PIDS / name).is_dir()
    finally:
        (CGROUP_PIDS / name).rmdir()


def test_job_networks_leave_the_host_no_address(engine_client):
    job = SandboxJob(engine_client, uuid.uuid4().hex[:12], SandboxLimits())
    with job:
        name = job.create_network("net-default")
        options = engine_client.api.inspect_network(name)["Options"]
    assert options.get(NETWORK_NO_HOST_ADDRESS) == "true"


def test_janitor_removes_a_jobs_chain_of_labelled_images(engine_client, tmp_path, monkeypatch):
    """A build appends one LABEL step per label, so a job leaves a parent and a child image
    with its label; the janitor used to stop at "image has dependent child images"."""
    dockerfile = f"FROM busybox:latest\nRUN echo {uuid.uuid4().hex}\n".encode()
    job = SandboxJob(engine_client, uuid.uuid4().hex[:12], SandboxLimits())
    outcome = build_image(
        engine_client, context={"Dockerfile": ProjectFile(dockerfile)}, dockerfile="Dockerfile",
        tag=f"{job.image_repo}:app",
        labels=job.labels(), limits=SandboxLimits(build_timeout_s=60),
    )  # fmt: skip
    assert outcome.ok, outcome.error
    label = {"label": f"{LABEL_JOB}={job.job_id}"}
    assert len(engine_client.api.images(all=True, filters=label)) >= 2  # parent and child

    listed = engine_client.api.images

    def parents_first(*args, **kwargs):  # the order the engine may well list them in
        found = listed(*args, **kwargs)
        return sorted(found, key=lambda i: len(engine_client.api.history(i["Id"])))

    monkeypatch.setattr(engine_client.api, "images", parents_first)
    report = janitor(engine_client, job_id=job.job_id)  # a crashed job: no teardown ran
    monkeypatch.undo()

    assert report["errors"] == [] and report["images"] >= 2
    assert engine_client.api.images(all=True, filters=label) == []


def _tiny_image(client, tmp_path: Path, name: str) -> str:
    (tmp_path / name).mkdir()
    (tmp_path / name / "Dockerfile").write_text(
        f"FROM busybox:latest\nLABEL x={uuid.uuid4().hex}\n"
    )
    image, _ = client.images.build(path=str(tmp_path / name), rm=True)
    return image.id


def test_the_learners_image_name_is_reported_never_applied_on_the_engine(engine_client):
    """Every job grading the same compose file names its image the same: once that name was a
    tag on the engine, one job moved it under another (the load test) and another learner's
    compose could run it (issue 10). Now the name is only reported; the engine never has it."""
    from types import SimpleNamespace

    from exercises.grading.sandbox.session import _Session
    from exercises.grading.types import RuntimeObservations

    name = f"registry.drydock.test/race-{uuid.uuid4().hex[:8]}:1.0.0"
    session = SimpleNamespace(
        client=engine_client, image_id="sha256:" + "0" * 64,
        plan=SimpleNamespace(app_image_tag=name),
        job=SimpleNamespace(image_repo="drydock/job-race", job_id="race"),
        obs=RuntimeObservations(), note=print,
    )  # fmt: skip
    _Session.tag_app_image(session)
    assert session.obs.final_image_tags == [name]
    assert engine_client.api.images(name=name.rsplit(":", 1)[0]) == []


def test_the_janitor_carries_on_when_another_df_is_running(engine_client, monkeypatch):
    def busy():
        raise docker.errors.APIError("a disk usage operation is already running")

    monkeypatch.setattr(engine_client, "df", busy)
    report = janitor(engine_client, older_than_s=3600, sweep_scratch=grader.scratch_sweep)
    assert any("a disk usage operation is already running" in e for e in report["errors"])
    assert "scratch" in report and "cgroups" in report  # the rest of the janitor still ran
