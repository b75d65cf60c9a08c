"""Orchestration: the plan handed to the runtime, merging runtime evidence, errors, clean-up."""

from __future__ import annotations

import json
import statistics
import sys
import time
import types
from pathlib import Path

import pytest

import exercises.grading
import exercises.grading.grader
from exercises.grading import grader
from exercises.grading.grader import grade_directory, grade_files, scratch_root
from exercises.grading.types import (
    InfrastructureError,
    RuntimeObservations,
    SandboxPlan,
    ServiceObservation,
    Status,
)

from .support import check, evidence, read_fixture

MB = 1_000_000


def healthy(plan: SandboxPlan) -> RuntimeObservations:
    """What the sandbox would see for a good submission."""
    services = {
        name: ServiceObservation(
            name=name,
            started=True,
            image=service.get("image", ""),
            memory_limit=512 * 2**20,
            nano_cpus=500_000_000,
            health_ok=True,
            uid="1001" if name == plan.app_service else "999",
        )  # fmt: skip
        for name, service in plan.services.items()
    }
    services[plan.app_service].image = plan.app_image_tag
    return RuntimeObservations(
        build_ok=True, dev_image_size=1100 * MB, final_image_size=180 * MB,
        final_image_tags=[plan.app_image_tag], services=services, http_health_status=200,
        build_ms=1200, run_ms=3400, log="build log\n",
    )  # fmt: skip


def _strings(tree):
    """Every string in a JSON-like tree (to look for host paths)."""
    if isinstance(tree, dict):
        return [s for value in tree.values() for s in _strings(value)]
    if isinstance(tree, list):
        return [s for value in tree for s in _strings(value)]
    return [tree] if isinstance(tree, str) else []


@pytest.fixture
def runtime(monkeypatch):
    """A fake `exercises.grading.sandbox` that records the plan and answers `observe` with
    `healthy(plan)`, modified by the test's `tweak(plan, observations)`."""
    fake = types.SimpleNamespace(plans=[], tweak=lambda plan, observed: None)

    def observe(plan, limits, progress, engine=None):
        fake.plans.append(plan)
        fake.workdir_files = sorted(plan.files)
        fake.scratch_seen = sorted(
            p.name for p in exercises.grading.grader.scratch_root().iterdir()
        )
        fake.secret_values = {name: value.decode() for name, value in plan.secrets.items()}
        observed = healthy(plan)
        return fake.tweak(plan, observed) or observed

    module = types.ModuleType("exercises.grading.sandbox")
    module.observe = observe
    monkeypatch.setitem(sys.modules, "exercises.grading.sandbox", module)
    monkeypatch.setattr(exercises.grading, "sandbox", module, raising=False)
    return fake


def test_full_mode_plan_for_the_reference(submit, reference, runtime):
    result = grade_directory(submit(reference))
    assert result.status == Status.PASSED and result.mode == "full"
    (plan,) = runtime.plans
    assert plan.app_service == "app" and plan.db_service == "db"
    assert plan.dockerfile == "Dockerfile"
    assert plan.app_image_tag == "registry.drydock.test/myapp:1.4.2-87"
    assert "ports" not in plan.services["app"] and "ports" not in plan.services["db"]
    # the job spec carries no host path: the redirected bind device is project-relative
    assert plan.volumes["pgdata"]["driver_opts"]["device"] == ".drydock-volumes/pgdata"
    assert {"package.json", "src/server.js", "Dockerfile", "docker-compose.yml"} <= set(
        runtime.workdir_files
    )
    assert "secrets/db_password.txt" in runtime.workdir_files
    password = runtime.secret_values["db_password"]
    assert (
        plan.services["app"]["environment"]["DATABASE_URL"]
        == f"postgres://drydock:{password}@db:5432/drydock"
    )
    assert set(runtime.secret_values.values()) <= set(plan.canaries)
    assert plan.dev_files is not None and "Dockerfile" in plan.dev_files
    host_paths = [v for v in _strings(plan.services) if v.startswith(str(scratch_root()))]
    assert host_paths == []
    assert result.timings.build_ms == 1200 and result.timings.run_ms == 3400
    assert "runtime: final image 180.0 MB vs development image 1100.0 MB (16%)" in evidence(
        result, "minimal-base-image"
    )


def test_full_mode_unescapes_dollars_for_the_runtime(submit, runtime):
    files = read_fixture("distroless")
    grade_directory(submit(files))
    (plan,) = runtime.plans
    assert plan.services["database"]["healthcheck"]["test"] == [
        "CMD-SHELL",
        "pg_isready -U ${POSTGRES_USER}",
    ]
    assert plan.services["database"]["environment"]["POSTGRES_PASSWORD"] in plan.canaries


@pytest.mark.parametrize(
    ("check_id", "tweak"),
    [
        ("minimal-base-image", lambda p, o: setattr(o, "final_image_size", 900 * MB)),
        ("non-root-user", lambda p, o: setattr(o.services[p.app_service], "uid", "0")),
        ("non-root-user", lambda p, o: setattr(o.services[p.app_service], "uid", None)),
        (
            "security-practices",
            lambda p, o: setattr(o, "canary_hits", ["env:DB_PASSWORD", "file:/app/config.json"]),
        ),
        ("resource-limits", lambda p, o: setattr(o.services[p.db_service], "memory_limit", 0)),
        ("health-checks", lambda p, o: setattr(o, "http_health_status", 503)),
        ("health-checks", lambda p, o: setattr(o.services[p.db_service], "health_ok", False)),
        ("tagging-strategy", lambda p, o: setattr(o, "final_image_tags", [])),
    ],
)
def test_a_check_needs_its_runtime_confirmation(submit, reference, runtime, check_id, tweak):
    runtime.tweak = tweak
    result = grade_directory(submit(reference))
    assert result.status == Status.FAILED
    failed = [c for c in result.checks if not c.passed]
    assert [c.id for c in failed] == [check_id]
    assert failed[0].summary == next(
        e for e in failed[0].evidence if e.startswith("runtime:")
    ).removeprefix("runtime: ")


def test_build_failure_fails_every_runtime_confirmed_check(submit, reference, runtime):
    def broken(plan, observed):
        return RuntimeObservations(build_ok=False, build_error="npm run build exited with code 1")

    runtime.tweak = broken
    result = grade_directory(submit(reference))
    assert result.status == Status.FAILED
    assert [c.id for c in result.checks if c.passed] == ["environment-config"]
    assert "npm run build exited with code 1" in evidence(result, "non-root-user")


def test_runtime_notes_go_under_a_check(submit, reference, runtime):
    runtime.tweak = lambda p, o: o.notes.append("sandbox: the build ran without a pids limit")
    result = grade_directory(submit(reference))
    assert "sandbox: the build ran without a pids limit" in evidence(result, "resource-limits")


def test_static_failures_stay_failures_in_full_mode(submit, development, runtime):
    result = grade_directory(submit(development))
    assert result.status == Status.FAILED
    assert not any(c.passed for c in result.checks)


def test_rejected_submissions_are_never_run(submit, reference, runtime):
    files = {
        **reference,
        "docker-compose.yml": "services:\n  app:\n    build: .\n    privileged: true\n",
    }
    assert grade_directory(submit(files)).status == Status.REJECTED
    assert runtime.plans == []


def test_infrastructure_errors_propagate(submit, reference, runtime):
    def down(plan, observed):
        raise InfrastructureError("engine unreachable")

    runtime.tweak = down
    with pytest.raises(InfrastructureError):
        grade_directory(submit(reference))


def test_unexpected_exceptions_become_a_one_line_error(submit, reference, runtime, caplog):
    def bug(plan, observed):
        raise KeyError("oops")

    runtime.tweak = bug
    result = grade_directory(submit(reference))
    assert result.status == Status.ERROR
    assert result.error == grader.UNEXPECTED.format(kind="KeyError")
    assert "grading job" in caplog.text


def test_static_grading_never_imports_the_sandbox(submit, reference, monkeypatch):
    monkeypatch.delitem(sys.modules, "exercises.grading.sandbox", raising=False)
    monkeypatch.delitem(sys.modules, "docker", raising=False)
    grade_directory(submit(reference), static_only=True)
    assert "exercises.grading.sandbox" not in sys.modules and "docker" not in sys.modules


def test_scratch_directories_are_removed(submit, reference, development, scratch_dir, runtime):
    grade_directory(submit(reference))
    grade_directory(submit(development), static_only=True)
    grade_directory(
        submit({**reference, "docker-compose.yml": "services: {app: {image: 1}}\n"}),
        static_only=True,
    )
    grade_directory(
        submit({**reference, "docker-compose.yml": "services: {a: {image: x, privileged: true}}\n"})
    )
    assert list(scratch_dir.iterdir()) == []


def test_scratch_root_is_configurable(submit, reference, runtime, tmp_path, monkeypatch):
    root = tmp_path / "elsewhere"
    monkeypatch.setenv("DRYDOCK_SCRATCH_DIR", str(root))
    grade_directory(submit(reference))
    assert f"job-{runtime.plans[0].job_id}" in runtime.scratch_seen
    assert list(root.iterdir()) == []


def test_grade_files_grades_uploaded_contents(reference):
    result = grade_files(
        {name: text.encode() for name, text in reference.items()}, static_only=True
    )
    assert result.status == Status.PASSED


def test_progress_is_reported(submit, reference):
    seen = []
    grade_directory(submit(reference), static_only=True, progress=lambda *event: seen.append(event))
    assert seen and seen[0][0].value == "checking"


def test_timings_are_filled(submit, reference):
    result = grade_directory(submit(reference), static_only=True)
    assert 0 < result.timings.static_ms <= result.timings.total_ms
    assert result.timings.build_ms == result.timings.run_ms == 0


def test_static_grading_is_fast(submit, reference):
    directory: Path = submit(reference)
    grade_directory(directory, static_only=True)  # warm caches
    durations = []
    for _ in range(5):
        started = time.monotonic()
        grade_directory(directory, static_only=True)
        durations.append(time.monotonic() - started)
    assert statistics.median(durations) < 1.0  # typically ~0.1 s; generous for loaded CI machines


def test_unknown_exercise_is_an_error(submit, reference):
    result = grade_directory(submit(reference), exercise="nope", static_only=True)
    assert result.status == Status.ERROR and "nope" in result.error


def test_check_helper_reports_missing_checks(grade, reference):
    result = grade({"Dockerfile": reference["Dockerfile"]})
    with pytest.raises(AssertionError, match="no checks"):
        check(result, "non-root-user")


def test_a_stack_that_did_not_come_up_is_not_confirmed(submit, reference, runtime):
    def db_broken(plan, observed):
        del observed.services[plan.app_service]
        db = observed.services[plan.db_service]
        db.started, db.health_ok, db.memory_limit = False, False, 0
        db.health_output = "exec: docker-entrypoint.sh: not found"
        observed.run_error = "app was not started: its dependency db did not start"
        observed.http_health_status = None
        observed.http_health_detail = "not probed: the app is not running"

    runtime.tweak = db_broken
    result = grade_directory(submit(reference))
    assert [c.id for c in result.checks if c.passed] == [
        "minimal-base-image", "security-practices", "environment-config",
    ]  # fmt: skip
    assert check(result, "non-root-user").summary == (
        "not confirmed: app did not run (app was not started: its dependency db did not start)"
    )
    assert "not confirmed: db did not run (exec: docker-entrypoint.sh: not found)" in evidence(
        result, "health-checks"
    )


def _comparable(plan: SandboxPlan, other: SandboxPlan) -> dict:
    """`plan` as data, with its job id and canary values renamed to those of `other`."""
    text = json.dumps(
        [plan.services, plan.volumes, plan.networks, plan.app_image_tag, plan.db_service],
        sort_keys=True,
    ).replace(plan.job_id, other.job_id)
    for mine, theirs in zip(plan.canaries, other.canaries, strict=True):
        text = text.replace(mine, theirs)
    return {
        "config": json.loads(text),
        "files": {n: (f.content, f.mode) for n, f in plan.files.items() if "secrets/" not in n},
        "secret files": sorted(n for n in plan.files if "secrets/" in n),
        "secrets": sorted(plan.secrets),
        "dev": {n: (f.content, f.mode) for n, f in (plan.dev_files or {}).items()},
    }


@pytest.mark.parametrize("fixture", ["reference", "development"])
def test_the_runtime_pass_reuses_the_static_pass(fixture, runtime, monkeypatch):
    files = {name: text.encode() for name, text in read_fixture(fixture).items()}
    files["scripts/start.sh"] = b"#!/bin/sh\nexec node src/server.js\n"
    before = grade_files(files, executables={"scripts/start.sh"})  # one full grading, as before
    static, spec = grader.grade_static(files, executables={"scripts/start.sh"})
    static_json, spec_json = json.loads(json.dumps(static.to_json())), json.loads(json.dumps(spec))

    analysed = []  # every static tool and rule the runtime pass would call again
    for name in ("Hadolint", "ComposeConfig", "static_checks", "submission_load", "police"):
        monkeypatch.setattr(grader, name, lambda *a, _n=name, **k: analysed.append(_n))
    after = grader.grade_runtime(
        files, static=static_json, spec=spec_json, executables={"scripts/start.sh"}
    )

    assert analysed == []
    assert static.mode == "static" and after.mode == "full"
    first, second = runtime.plans

    def seen(result, plan):  # what the learner sees; a job's own id is in an untagged name
        return json.dumps({**result.to_json(), "timings": None}).replace(plan.job_id, "JOB")

    assert seen(after, second) == seen(before, first)
    assert after.log == before.log and after.timings.static_ms == static.timings.static_ms
    assert second.job_id != spec["job_id"] and second.job_id != first.job_id
    assert _comparable(first, second) == _comparable(second, second)
    assert second.files["scripts/start.sh"].mode == 0o755


def test_nothing_is_run_when_the_static_pass_settles_it(reference):
    files = {name: text.encode() for name, text in reference.items()}
    del files["docker-compose.yml"]
    result, spec = grader.grade_static(files)
    assert result.status == Status.ERROR and spec is None


def test_an_unexpected_bug_is_flagged_internal_not_by_its_message(reference, monkeypatch):
    monkeypatch.setattr(grader, "static_checks", lambda analysis: 1 / 0)
    files = {name: text.encode() for name, text in reference.items()}
    result = grade_files(files, static_only=True)
    assert result.status == Status.ERROR and result.internal
    assert not grade_files({"Dockerfile": b"FROM x\n"}, static_only=True).internal
