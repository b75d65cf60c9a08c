"""Drydock's own deployment, end to end on the real engine (docker/).

Builds the image offline (docker/platform/build: stand-in base, wheelhouse, `--network none`),
brings the stack up with `docker-compose up --wait` (the real Compose v2 binary, with the
single-host engine override), then, over HTTP only: signs up and signs in, reads a lesson,
submits the reference answer and watches the containerised worker grade it 7/7. Then the
graceful shutdown: with one grading in progress and another queued, the worker gets SIGTERM
(`docker-compose stop worker`): the grading in progress must be finished when it has exited,
the other must still wait in Redis; then the rest of the stack gets SIGTERM and every container
must exit cleanly (no SIGKILL); after `up --wait` again the queued one is graded: nothing is
lost. Everything is torn down (`down -v`, the test image, its directories).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from exercises.grading.compose import compose_binary

pytestmark = [pytest.mark.slow, pytest.mark.engine, pytest.mark.deploy, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "exercises" / "assets" / "docker-production" / "reference"
IMAGE = "drydock-deploy-test"
VERSION = re.search(r'^version = "(.+)"', (REPO / "pyproject.toml").read_text(), re.M).group(1)
EXERCISE = "/exercises/docker-production/"
STATUS = re.compile(
    r'id="grading-status" class="grading-status (done|running) status-(\w+)( infra)?'
)
SCORE = re.compile(r'<strong class="score-value">(\d+)/(\d+)</strong>')
ACTIVE = ("checking", "building", "running", "probing")


def unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where the engine must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
    return value


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Stack:
    project: str
    env: dict[str, str]
    base_url: str
    timings: dict[str, float] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        files = ["-f", "docker/compose.yaml", "-f", "docker/compose.grading-engine.yaml"]
        return subprocess.run(
            [str(compose_binary()), "-p", self.project, *files, *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def up(self) -> float:
        started = time.monotonic()
        result = self.compose("up", "--wait", "--wait-timeout", "240", "--no-build", timeout=300)
        if result.returncode != 0:
            logs = self.compose("logs", "--no-color", "--tail", "40").stdout
            pytest.fail(f"up --wait failed:\n{result.stderr[-3000:]}\n{logs[-6000:]}")
        return time.monotonic() - started

    def containers(self) -> dict[str, dict]:
        """`docker inspect` of the project's containers, by service."""
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        if not ids:
            return {}
        inspected = json.loads(
            subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True).stdout
        )
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in inspected}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "info"], capture_output=True).returncode
    ):
        unavailable("no Docker engine (scripts/start-engine)")
    work = Path(tempfile.mkdtemp(prefix="drydock-deploy-"))
    project = f"drydock-deploy-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "DRYDOCK_IMAGE": IMAGE,
        "DRYDOCK_VERSION": VERSION,
        "DRYDOCK_SECRETS_DIR": str(work / "secrets"),
        "DRYDOCK_HTTP_PORT": str(free_port()),
        "DRYDOCK_GRADING_GID": str(os.stat("/run/drydock-grading").st_gid),
        "DRYDOCK_SECURE_COOKIES": "false",  # plain HTTP on 127.0.0.1
        "DRYDOCK_WORKERS": "1",  # one grading at a time: the second one waits in the queue
        "DRYDOCK_WORKER_STOP_GRACE": "4m",
        "COMPOSE_BAKE": "false",
    }
    s = Stack(project, env, f"http://127.0.0.1:{env['DRYDOCK_HTTP_PORT']}")
    try:
        started = time.monotonic()
        build = subprocess.run(
            [str(REPO / "docker/platform/build")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
        s.timings["build_s"] = time.monotonic() - started
        size = subprocess.run(
            ["docker", "image", "inspect", f"{IMAGE}:{VERSION}", "--format", "{{.Size}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        s.timings["image_mb"] = round(int(size) / 1e6)
        s.timings["up_wait_s"] = s.up()
        yield s
    finally:
        s.compose("down", "-v", "--remove-orphans", "--timeout", "30", timeout=300)
        subprocess.run(["docker", "rmi", f"{IMAGE}:{VERSION}"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        artifacts = REPO / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        (artifacts / "deploy-timings.json").write_text(json.dumps(s.timings, indent=2) + "\n")


def _csrf(session: requests.Session, url: str) -> str:
    response = session.get(url, timeout=10)
    assert response.status_code == 200, (url, response.status_code)
    return session.cookies["csrftoken"]


def _post(session: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    data = {"csrfmiddlewaretoken": _csrf(session, url), **data}
    return session.post(url, data=data, allow_redirects=False, timeout=60)


def _submit(session: requests.Session, base: str) -> str:
    files = {n: (REFERENCE / n).read_text() for n in ("Dockerfile", "docker-compose.yml")}
    response = _post(
        session,
        base + EXERCISE,
        {"dockerfile": files["Dockerfile"], "compose": files["docker-compose.yml"]},
    )
    assert response.status_code == 302, response.text[-2000:]
    return base + response.headers["Location"]


def _status(session: requests.Session, url: str) -> tuple[str, str, str]:
    """(done|running, status, score) as the learner's page shows them."""
    page = session.get(url, timeout=10).text
    match = STATUS.search(page)
    assert match, page[-2000:]
    score = SCORE.search(page)
    return match.group(1), match.group(2), f"{score.group(1)}/{score.group(2)}" if score else ""


def _graded(session: requests.Session, url: str, timeout: float) -> tuple[str, str, str]:
    return wait_for(
        lambda: (s := _status(session, url))[0] == "done" and s,
        timeout=timeout,
        interval=1,
        what=f"the grading of {url}",
    )


def test_build_up_sign_in_read_submit_graded_then_sigterm_loses_nothing(stack):
    base = stack.base_url
    assert requests.get(base + "/healthz", timeout=5).json() == {"status": "ok"}
    ready = wait_for(
        lambda: (r := requests.get(base + "/readyz", timeout=10)).ok and r.json(),
        timeout=60,
        interval=1,
        what="/readyz (the worker's engine heartbeat)",
    )
    assert {c["name"]: c["ok"] for c in ready["checks"]} == {
        "database": True,
        "broker": True,
        "engine": True,
    }

    # A learner signs up, signs out and signs in again, then reads a lesson.
    learner = requests.Session()
    password = uuid.uuid4().hex
    signup = _post(
        learner,
        base + "/accounts/signup/",
        {"username": "deploy-learner", "password1": password, "password2": password},
    )
    assert signup.status_code == 302, signup.text[-2000:]
    learner.post(
        base + "/accounts/logout/",
        data={"csrfmiddlewaretoken": learner.cookies["csrftoken"]},
        timeout=10,
    )
    login = _post(
        learner, base + "/accounts/login/", {"username": "deploy-learner", "password": password}
    )
    assert login.status_code == 302 and "sessionid" in learner.cookies, login.text[-2000:]
    home = learner.get(base + "/", timeout=10).text
    lesson = re.search(r'href="(/courses/[\w-]+/[\w-]+/)"', home).group(1)
    page = learner.get(base + lesson, timeout=10)
    assert page.status_code == 200 and "deploy-learner" in page.text

    # The reference answer, graded in full by the containerised worker on the host engine.
    started = time.monotonic()
    first = _submit(learner, base)
    assert _graded(learner, first, timeout=240) == ("done", "passed", "7/7")
    stack.timings["grading_s"] = time.monotonic() - started
    worker_metrics = stack.compose(
        "exec",
        "-T",
        "worker",
        "python",
        "-c",
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9808/metrics').read().decode())",
    ).stdout
    assert 'drydock_grading_results_total{status="passed"} 1.0' in worker_metrics
    assert 'drydock_grading_stage_seconds_count{stage="build"} 1.0' in worker_metrics
    web_metrics = requests.get(base + "/metrics", timeout=10).text
    assert 'celery_queue_length{queue_name="grading"} 0.0' in web_metrics
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in web_metrics
    log_line = stack.compose("logs", "--no-color", "--no-log-prefix", "web").stdout.splitlines()[-1]
    assert json.loads(log_line)["logger"].startswith("gunicorn")  # structured logs

    # SIGTERM with one grading in progress and one queued behind it (one worker process).
    in_progress, queued = _submit(learner, base), _submit(learner, base)
    wait_for(
        lambda: _status(learner, in_progress)[1] in ACTIVE,
        timeout=60,
        interval=0.5,
        what="the second grading to start",
    )
    assert _status(learner, queued)[1] == "queued"
    started = time.monotonic()
    assert stack.compose("stop", "worker", timeout=330).returncode == 0  # Celery's warm shutdown
    stack.timings["worker_stop_s"] = time.monotonic() - started
    # The grading in progress finished before the worker exited; the queued one is still a
    # message in Redis, untouched (the web process reads the queue length).
    assert _status(learner, in_progress) == ("done", "passed", "7/7")
    assert _status(learner, queued)[1] == "queued"
    queue_length = 'celery_queue_length{queue_name="grading"} 1.0'
    assert queue_length in requests.get(base + "/metrics", timeout=10).text
    worker_log = stack.compose("logs", "--no-color", "--no-log-prefix", "worker").stdout
    assert "Warm shutdown" in worker_log

    started = time.monotonic()
    stopped = stack.compose("stop", timeout=330)  # the rest: SIGTERM (SIGINT for PostgreSQL)
    stack.timings["stop_s"] = time.monotonic() - started
    assert stopped.returncode == 0, stopped.stderr
    containers = stack.containers()
    for name in ("web", "worker", "beat"):  # what compose.yaml asks of the platform containers
        host, config = containers[name]["HostConfig"], containers[name]["Config"]
        assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["PidsLimit"] > 0, name
        assert host["ReadonlyRootfs"] and host["Init"] and host["CapDrop"] == ["ALL"], name
        assert config["User"] == "10001:10001", name
        assert host["LogConfig"]["Config"]["max-size"] == "10m", name
    states = {name: c["State"] for name, c in containers.items()}
    exits = {name: (s["Status"], s["ExitCode"], s["OOMKilled"]) for name, s in states.items()}
    for name in ("web", "worker", "beat", "redis", "db"):
        # 0 = a clean exit on SIGTERM; 137 would be Docker's SIGKILL after the grace period
        assert exits[name] == ("exited", 0, False), exits

    # Back up: the queued grading survived in Redis's append-only file and is graded now.
    stack.timings["up_again_s"] = stack.up()
    assert _graded(learner, queued, timeout=240) == ("done", "passed", "7/7")
    stack.timings["total_s"] = sum(v for k, v in stack.timings.items() if k.endswith("_s"))
