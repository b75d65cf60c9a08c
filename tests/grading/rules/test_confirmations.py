"""Runtime confirmations, fed with observations as the sandbox would report them: the
learner's own settings are what the evidence reports, the sandbox's are said apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from exercises.grading.rules import runtime_confirm
from exercises.grading.rules.confirmations import (
    HEALTH_DB_DOWN_FAILS,
    HEALTH_DB_DOWN_PASSES,
    NO_HEALTHCHECK,
    STANDIN_FOR,
)
from exercises.grading.types import (
    CHECK_IDS,
    CheckResult,
    RuntimeObservations,
    SandboxPlan,
    ServiceObservation,
)

CANARY = "drydockcanary0123456789abcdef01234567"
LIMITS = {"deploy": {"resources": {"limits": {"memory": "536870912", "cpus": 0.5}}}}


def _plan(workdir: Path, **services: dict) -> SandboxPlan:
    """A plan over the files written in `workdir`, in whichever form SandboxPlan takes: a
    scratch `workdir`, or the sandbox job spec's `files` (bytes)."""
    project: dict[str, object] = {"workdir": workdir}
    if "files" in SandboxPlan.__dataclass_fields__:
        from exercises.grading import types

        project = {
            "files": {
                p.relative_to(workdir).as_posix(): types.ProjectFile(p.read_bytes())  # type: ignore[attr-defined]
                for p in workdir.rglob("*")
                if p.is_file()
            }
        }
    return SandboxPlan(
        job_id="t", dockerfile="Dockerfile", app_service="app", db_service="db",
        app_image_tag="shop:1.0.0", services=services or {"app": dict(LIMITS), "db": dict(LIMITS)},
        canaries=[CANARY], **project,  # type: ignore[arg-type]
    )  # fmt: skip


def _observed(**changes) -> RuntimeObservations:
    services = {
        name: ServiceObservation(
            name=name,
            started=True,
            image="shop:1.0.0" if name == "app" else "postgres:16",
            memory_limit=512 * 2**20,
            nano_cpus=500_000_000,
            health_ok=True,
            healthcheck=["CMD", "x"],
            uid="1001",
        )  # fmt: skip
        for name in ("app", "db")
    }
    observed = RuntimeObservations(
        build_ok=True, dev_image_size=1000, final_image_size=200, final_image_tags=["shop:1.0.0"],
        services=services, http_health_status=200,
    )  # fmt: skip
    for key, value in changes.items():
        setattr(observed, key, value)
    return observed


def _static(evidence: dict[str, list[str]] | None = None) -> list[CheckResult]:
    return [CheckResult(i, True, "ok", list((evidence or {}).get(i, []))) for i in CHECK_IDS]


def _confirm(plan, observed, evidence=None) -> dict[str, CheckResult]:
    return {r.id: r for r in runtime_confirm(_static(evidence), plan, observed)}


def test_all_confirmed(tmp_path):
    results = _confirm(_plan(tmp_path), _observed())
    assert all(r.passed for r in results.values()), [r.summary for r in results.values()]


# --- health -----------------------------------------------------------------------------------


def test_an_app_without_health_check_is_told_so(tmp_path):
    observed = _observed()
    observed.services["app"].healthcheck = None
    observed.services["app"].health_ok = None
    health = _confirm(_plan(tmp_path), observed)["health-checks"]
    assert not health.passed
    assert health.summary == NO_HEALTHCHECK.format(name="app").removeprefix("runtime: ")
    assert "no output" not in "\n".join(health.evidence)


def test_a_health_check_that_passes_with_the_database_down_fails(tmp_path):
    observed = _observed()
    observed.services["app"].health_ok_db_down = True
    health = _confirm(_plan(tmp_path), observed)["health-checks"]
    assert not health.passed
    assert HEALTH_DB_DOWN_PASSES.format(name="app") in health.evidence


def test_a_health_check_that_fails_with_the_database_down_is_confirmed(tmp_path):
    observed = _observed()
    observed.services["app"].health_ok_db_down = False
    health = _confirm(_plan(tmp_path), observed)["health-checks"]
    assert health.passed
    assert HEALTH_DB_DOWN_FAILS.format(name="app") in health.evidence


# --- limits -----------------------------------------------------------------------------------


def test_limits_report_the_learners_values(tmp_path):
    limits = _confirm(_plan(tmp_path), _observed())["resource-limits"]
    assert (
        "runtime: container app runs with your limits: memory 512 MiB, cpus 0.5" in limits.evidence
    )


def test_the_sandbox_default_is_not_presented_as_the_learners_limit(tmp_path):
    plan = _plan(tmp_path, app={}, db=dict(LIMITS))
    observed = _observed()
    observed.services["app"].memory_limit, observed.services["app"].nano_cpus = 2**30, 10**9
    limits = _confirm(plan, observed)["resource-limits"]
    assert not limits.passed
    assert limits.summary.startswith("container app runs without a memory limit of yours")
    assert "the sandbox's own ceiling applied: memory 1024 MiB, cpus 1" in limits.summary


def test_a_clamped_limit_is_said_separately(tmp_path):
    plan = _plan(tmp_path, app={"mem_limit": str(2**30), "cpus": 1.0}, db=dict(LIMITS))
    observed = _observed()
    observed.services["app"].memory_limit, observed.services["app"].nano_cpus = 2**30, 10**9
    note = "sandbox: service app's memory limit 4096 MiB is clamped to the sandbox maximum 1024 MiB"
    limits = _confirm(plan, observed, {"resource-limits": [note]})["resource-limits"]
    assert limits.passed
    assert (
        "runtime: container app runs with memory 1024 MiB, cpus 1: your memory limit, "
        "clamped by the sandbox to its maximum" in limits.evidence
    )


def test_a_limit_lowered_to_the_jobs_share_is_said_separately(tmp_path):
    observed = _observed()
    observed.services["app"].memory_limit, observed.services["app"].nano_cpus = (
        256 * 2**20,
        25 * 10**7,
    )
    limits = _confirm(_plan(tmp_path), observed)["resource-limits"]
    assert limits.passed
    assert (
        "runtime: container app: your limits are memory 512 MiB, cpus 0.5; the sandbox ran it "
        "with memory 256 MiB, cpus 0.25, its share of the job's ceiling" in limits.evidence
    )


# --- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("supplied", ["secrets/db_password.txt", ".env"])
def test_a_file_the_grader_wrote_is_not_the_learners_leak(tmp_path, supplied):
    (tmp_path / supplied).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / supplied).write_text(f"DB_PASSWORD={CANARY}\n")
    observed = _observed(canary_hits=[f"file:/app/{supplied}"])
    security = _confirm(_plan(tmp_path), observed)["security-practices"]
    assert security.passed, security.evidence
    assert any("a file the grader wrote" in line and supplied in line for line in security.evidence)


@pytest.mark.parametrize(
    "hit", ["env:DB_PASSWORD", "history:ARG DB_PASSWORD=***", "file:/app/config.json"]
)
def test_a_secret_built_into_the_image_is_a_leak(tmp_path, hit):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "db_password.txt").write_text(CANARY)
    security = _confirm(_plan(tmp_path), _observed(canary_hits=[hit]))["security-practices"]
    assert not security.passed
    assert hit in security.summary


# --- minimal from the image -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "minimal"),
    [
        ("node:22-alpine", True),
        ("gcr.io/distroless/nodejs22-debian12:nonroot", True),
        ("node:22", False),
    ],
)
def test_a_stand_in_base_decides_minimal_whatever_the_size(tmp_path, base, minimal):
    observed = _observed(final_image_labels={STANDIN_FOR: base}, final_image_size=900)
    result = _confirm(_plan(tmp_path), observed)["minimal-base-image"]
    assert result.passed is minimal
    assert any(f"built on {base}" in line for line in result.evidence)


def test_without_a_label_the_size_decides(tmp_path):
    assert not _confirm(_plan(tmp_path), _observed(final_image_size=900))[
        "minimal-base-image"
    ].passed
