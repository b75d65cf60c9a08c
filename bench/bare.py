"""The bare engine work a person would do by hand to get the same result as a full grading.

On the grading engine, as the gradings: `docker build` (classic builder, warm cache, no
network as in the sandbox) of the reference Dockerfile in a copy of the
starter project, then `docker-compose up -d --wait` of the reference compose file with every
health check interval shortened to 1 s, then `docker-compose down -v`. The compose file is
the reference's with only what a sandbox needs changed, as the grader changes it: values for
its variables (the grader's own, fixed once), no published ports, the bind-device volume as a
plain volume, and the app's image named after a bench tag (never the reference's
`registry…/myapp` name, which a grading tags).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from exercises.grading import compose as compose_mod
from exercises.grading import grader, policy
from exercises.grading.files import COMPOSE_NAMES

from .cpu import grading_engine_run_dir

ASSETS = Path(grader.assets_dir("docker-production"))
HEALTH_INTERVAL = "1s"


def engine_env() -> dict[str, str]:
    """DOCKER_HOST of the grading engine, so the bare cycle runs where the gradings run."""
    run = grading_engine_run_dir()
    return {"DOCKER_HOST": f"unix://{run / 'docker.sock'}"} if run else {}


TIMEOUT_S = 180


@dataclass
class BareTimes:
    build_s: float
    up_s: float
    down_s: float

    @property
    def total_s(self) -> float:
        return self.build_s + self.up_s + self.down_s


class BareStack:
    """One prepared project directory and compose project; `cycle()` = build, up, down."""

    def __init__(self, scratch: Path, lane: str = "a") -> None:
        self.dir = scratch / f"bare-{lane}"
        self.project = f"drydock-bench-bare-{lane}"
        self.tag = f"drydock-bench/bare-app:{lane}"
        self.compose_bin = str(compose_mod.compose_binary())
        source = ASSETS / "reference"
        compose_text = (source / "docker-compose.yml").read_text()
        document = compose_mod.compose_document(compose_text, "docker-compose.yml")
        inputs = policy.sandbox_inputs(document, compose_text, texts={})
        shutil.copytree(
            ASSETS / "starter", self.dir,
            ignore=shutil.ignore_patterns("node_modules", "Dockerfile", *COMPOSE_NAMES),
        )  # fmt: skip
        shutil.copy(source / "Dockerfile", self.dir / "Dockerfile")
        for name, text in inputs.files.items():
            (self.dir / name).parent.mkdir(parents=True, exist_ok=True)
            (self.dir / name).write_text(text)
        (self.dir / "docker-compose.yml").write_text(yaml.safe_dump(self._by_hand(document)))
        self.variables = inputs.variables

    def _by_hand(self, document: dict[str, Any]) -> dict[str, Any]:
        document = json.loads(json.dumps(document))
        services = document.get("services") or {}
        app = compose_mod.find_app_service(services, compose_mod.find_db_service(services))
        for name, service in services.items():
            service.pop("ports", None)
            service.pop("container_name", None)
            if isinstance(service.get("healthcheck"), dict):
                service["healthcheck"]["interval"] = HEALTH_INTERVAL
            if name == app:
                service.pop("build", None)
                service["image"] = self.tag
        for name in list(document.get("volumes") or {}):
            document["volumes"][name] = {}
        return document

    def _run(self, argv: list[str], env: dict[str, str]) -> float:
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - our argv
            argv, cwd=self.dir, env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
            check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv[:3])} failed: {(done.stderr or done.stdout)[-500:]}"
            )
        return time.perf_counter() - started

    def cycle(self, env: dict[str, str]) -> BareTimes:
        env = {**env, **self.variables, **engine_env(), "DOCKER_BUILDKIT": "0"}
        compose = [self.compose_bin, "-p", self.project, "-f", str(self.dir / "docker-compose.yml")]
        build = self._run(["docker", "build", "-q", "--network", "none", "-t", self.tag, "."], env)
        try:
            up = self._run([*compose, "up", "-d", "--wait"], env)
        finally:
            down = self._run([*compose, "down", "-v", "--remove-orphans"], env)
        return BareTimes(build, up, down)

    def remove(self, env: dict[str, str]) -> None:
        compose = [self.compose_bin, "-p", self.project, "-f", str(self.dir / "docker-compose.yml")]
        env = {**env, **self.variables, **engine_env()}
        subprocess.run([*compose, "down", "-v", "--remove-orphans"], env=env, cwd=self.dir,
                       capture_output=True, check=False, timeout=TIMEOUT_S)  # fmt: skip
        subprocess.run(["docker", "rmi", "--no-prune", self.tag], env=env, capture_output=True,
                       check=False, timeout=TIMEOUT_S)  # fmt: skip
