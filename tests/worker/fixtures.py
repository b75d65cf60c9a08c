"""A real Redis broker and real Celery workers (and beat) for the worker and browser tests.

Workers are subprocesses (`celery -A drydock worker -Q grading,celery`), so the test process
and the worker must share one database: importing this module points the test database at a
file (SQLite) that the worker opens through DATABASE_URL. Tests using these fixtures need
`transactional_db` (a worker cannot see an uncommitted test transaction).

Outside CI a missing redis-server or Docker engine skips the test with the reason; under CI
(`CI` set) it fails instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connections

REPO = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
TEST_DB = Path(tempfile.gettempdir()) / f"drydock-test-{os.getpid()}.sqlite3"
STANDINS = ("node:18-alpine", "postgres:14-alpine")


def _use_file_test_database() -> None:
    """A file-based SQLite test database, so that worker subprocesses can open it too."""
    connection = connections["default"]
    if connection.vendor == "sqlite" and not connection.settings_dict["TEST"].get("NAME"):
        connection.settings_dict["TEST"]["NAME"] = str(TEST_DB)


_use_file_test_database()


def unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where every dependency must be present."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def wait_for(
    predicate: Callable[[], object],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Redis -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A private redis-server on a spare port for the whole session."""
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        unavailable("redis-server is not installed (scripts/test installs it)")
    port = free_port()
    directory = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    import redis

    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    try:
        wait_for(lambda: _pings(client), timeout=10, what="redis-server to answer")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def point_app_at(url: str) -> None:
    """Make this process's Celery app publish to `url` (and forget connections to the old one)."""
    from django.conf import settings

    from drydock.celery import app

    app.conf.broker_url = url
    settings.CELERY_BROKER_URL = url
    app._pool = None  # kombu keeps one pool per URL: the next publish takes the new URL's
    app.amqp._producer_pool = None


@pytest.fixture
def broker(redis_url, settings) -> Iterator[str]:
    """This test publishes to the session's Redis; the queues start empty."""
    import redis

    original = settings.CELERY_BROKER_URL
    redis.Redis.from_url(redis_url).flushdb()
    point_app_at(redis_url)
    yield redis_url
    point_app_at(original)


# Workers -----------------------------------------------------------------------------------------


def _database_url() -> str:
    settings_dict = connections["default"].settings_dict
    if connections["default"].vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    if connections["default"].vendor == "postgresql":
        user, password = settings_dict.get("USER", ""), settings_dict.get("PASSWORD", "")
        host, port = settings_dict.get("HOST") or "localhost", settings_dict.get("PORT") or 5432
        return f"postgres://{user}:{password}@{host}:{port}/{settings_dict['NAME']}"
    pytest.fail(f"no worker database URL for {connections['default'].vendor}")


@dataclass
class Process:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 60) -> str:
        return (
            "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
            if self.log.exists()
            else ""
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)  # warm shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@pytest.fixture
def start_celery(transactional_db, broker, tmp_path) -> Iterator[Callable[..., Process]]:
    """start_celery("worker", DRYDOCK_GRADING_ENGINE=...) or start_celery("beat", ...): a subprocess on the
    test broker and the test database, stopped at the end of the test."""
    started: list[Process] = []

    def start(kind: str = "worker", *, concurrency: int = 2, **env: str) -> Process:
        name = f"test-{uuid.uuid4().hex[:8]}"
        log = tmp_path / f"{kind}-{name}.log"
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "drydock.settings.test",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker,
            "DRYDOCK_GRADING_RETRY_BACKOFF_MAX": "2",
            "PYTHONPATH": str(REPO),
            **env,
        }
        if kind == "worker":
            argv = [str(CELERY), "-A", "drydock", "worker", "-Q", "grading,celery", "-c", str(concurrency),
                    "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "INFO"]  # fmt: skip
        else:
            argv = [
                str(CELERY),
                "-A",
                "drydock",
                "beat",
                "-l",
                "INFO",
                "-s",
                str(tmp_path / f"beat-{name}"),
            ]
        with log.open("wb") as output:
            process = subprocess.Popen(
                argv,
                cwd=REPO,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        handle = Process(name, process, log)
        started.append(handle)
        if kind == "worker":
            wait_for(
                lambda: _worker_ready(handle),
                timeout=60,
                interval=0.3,
                what=f"worker {name}: {handle.tail(10)}",
            )
        return handle

    yield start
    for handle in reversed(started):
        handle.stop()


def _worker_ready(handle: Process) -> bool:
    if handle.process.poll() is not None:
        raise AssertionError(f"the worker exited ({handle.process.returncode}):\n{handle.tail()}")
    return " ready." in handle.log.read_text(errors="replace")


# The engine ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def engine_ready() -> str:
    """The grading engine answers and has the stand-in base images; returns its socket path."""
    from exercises.grading import sandbox
    from exercises.grading.sandbox.client import local_image
    from exercises.grading.types import InfrastructureError

    try:
        client = sandbox.connect(timeout=30)
    except InfrastructureError as error:
        unavailable(f"no grading engine ({error}); run scripts/grading-engine start")
    try:
        missing = [ref for ref in STANDINS if local_image(client, ref) is None]
    finally:
        client.close()
    if missing:
        unavailable(f"stand-in images missing: {', '.join(missing)} (run docker/standins/build)")
    host = sandbox.client.default_address().url
    if not host.startswith("unix://"):
        unavailable(f"the worker tests need a unix-socket grading engine, not {host}")
    return host.removeprefix("unix://")


def poll_statuses(
    submission_id: int, *, until: Callable[[object], bool], timeout: float
) -> list[str]:
    """Watch a submission's status change (as the result page would) until `until(row)`."""
    from exercises.models import Submission

    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        row = Submission.objects.get(pk=submission_id)
        if not seen or seen[-1] != row.status:
            seen.append(row.status)
        if until(row):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f}s; statuses seen: {seen}; message: {row.stage_message}"
            )
        time.sleep(0.05)
