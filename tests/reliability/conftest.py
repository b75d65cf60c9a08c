"""The reliability suite: hostile submissions, faults, load, fuzzing and leaks.

Every test here is marked `reliability` and `slow` (the quick run `-m "not slow"` skips the
suite; `scripts/reliability` runs it). Engine work happens on the suite's private engine
(`private_engine.py`), worker tests reuse the worker fixtures (a real Redis, real Celery
worker subprocesses on a file-based SQLite test database), with a Redis of our own that the
fault tests may stop and start again. Figures are collected by the hooks below
(`figures.py`).
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker.fixtures import (  # noqa: F401  (fixtures)
    broker,
    engine_ready,
    free_port,
    start_celery,
    unavailable,
    wait_for,
)

from .figures import FIGURES
from .private_engine import EngineUnavailable, PrivateEngine
from .support import unique

HERE = Path(__file__).resolve().parent
HOST_CANARY_FILE = Path("/etc/drydock-canary-host")


# --- markers, figures, order ------------------------------------------------------------------


def _ours(item: pytest.Item) -> bool:
    return Path(str(item.fspath)).resolve().is_relative_to(HERE)


@pytest.hookimpl(tryfirst=True)  # before `-m reliability` selects on the markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    last = []
    for item in items:
        if not _ours(item):
            continue
        item.add_marker(pytest.mark.reliability)
        item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("last"):
            last.append(item)
    for item in last:  # the leak check runs after everything else
        items.remove(item)
        items.append(item)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The figures' denominators: what was selected to run (after `-m`, `-k`)."""
    for item in session.items:
        marker = item.get_closest_marker("figure") if _ours(item) else None
        if marker:
            FIGURES.collected[marker.args[0]].append(item.nodeid)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "figure(kind): counts towards a reliability figure")
    config.addinivalue_line("markers", "last: runs after every other reliability test")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for category, nodeids in FIGURES.collected.items():
        if report.nodeid in nodeids:
            if report.failed or report.skipped:
                FIGURES.outcome(category, report.nodeid, ok=False)
            elif report.when == "call" and report.passed:
                FIGURES.outcome(category, report.nodeid, ok=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if any(FIGURES.collected.values()) or FIGURES.fuzz_inputs or FIGURES.lines:
        FIGURES.save()


def pytest_terminal_summary(terminalreporter) -> None:
    if os.environ.get("DRYDOCK_RELIABILITY_QUIET") or not (
        any(FIGURES.collected.values()) or FIGURES.fuzz_inputs or FIGURES.lines
    ):
        return
    terminalreporter.section("reliability figures")
    for text in FIGURES.report():
        terminalreporter.write_line(text)


# --- the suite's engine, scratch root, broker and host canaries ------------------------------


@pytest.fixture(scope="package")
def private_engine() -> Iterator[PrivateEngine]:
    """The suite's own engine; DRYDOCK_GRADING_ENGINE points at it for this process and the workers."""
    engine = PrivateEngine()
    try:
        engine.open()
        engine.load_standins()
    except (EngineUnavailable, subprocess.CalledProcessError, FileNotFoundError) as error:
        engine.close()
        unavailable(f"no reliability engine: {error}")
    previous = os.environ.get("DRYDOCK_GRADING_ENGINE")
    os.environ["DRYDOCK_GRADING_ENGINE"] = engine.host
    FIGURES.line(f"engine: private dockerd on a {engine.disk()[1] / 2**30:.0f} GiB loop-mounted "
                 f"filesystem; {'; '.join(engine.events) or 'stand-ins already loaded'}")  # fmt: skip
    try:
        yield engine
    finally:
        if previous is None:
            os.environ.pop("DRYDOCK_GRADING_ENGINE", None)
        else:
            os.environ["DRYDOCK_GRADING_ENGINE"] = previous
        engine.close()


@pytest.fixture
def engine_client(private_engine):
    from exercises.grading import sandbox

    client = sandbox.connect(timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="package")
def scratch_root() -> Iterator[Path]:
    """A scratch root of the suite's own (grader and workers), so leftovers can be counted."""
    root = Path(tempfile.mkdtemp(prefix="drydock-reliability-scratch-"))
    previous = os.environ.get("DRYDOCK_SCRATCH_DIR")
    os.environ["DRYDOCK_SCRATCH_DIR"] = str(root)
    yield root
    if previous is None:
        os.environ.pop("DRYDOCK_SCRATCH_DIR", None)
    else:
        os.environ["DRYDOCK_SCRATCH_DIR"] = previous
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _scratch(scratch_root) -> Path:
    return scratch_root


class RedisServer:
    """A redis-server this suite owns (so a fault test may stop it and start it again),
    persisted like scripts/lib.sh runs it in production (append-only file)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if not Path(self.binary).exists():
            unavailable("redis-server is not installed (scripts/test installs it)")
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        wait_for(lambda: _pings(client), timeout=10, what="redis-server to answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: redis flushes its append-only file and exits
            self.process.wait(timeout=20)
        self.process = None


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture(scope="package")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("reliability-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def redis_url(redis_server) -> str:
    """Overrides the worker fixtures' Redis: the broker fixture and the workers use ours."""
    return redis_server.url


@pytest.fixture(scope="package")
def host_canary(tmp_path_factory) -> Iterator[dict[str, object]]:
    """Host files a hostile submission would like to read: a marker in /etc and in a
    folder next to the submission. No grading output may ever contain the marker."""
    marker = f"DRYDOCK-HOST-CANARY-{uuid.uuid4().hex}"
    outside = tmp_path_factory.mktemp("outside-the-submission")
    (outside / "canary.env").write_text(f"LEAKED={marker}\n")
    (outside / "secret.txt").write_text(marker + "\n")
    (outside / "compose.yaml").write_text(
        f"services:\n  base:\n    image: busybox:latest\n    environment:\n      LEAKED: {marker}\n"
    )
    (outside / "Dockerfile").write_text(f"FROM busybox:latest\nRUN echo {marker}\n")
    try:  # always ours: a run that died left it, with an old marker
        HOST_CANARY_FILE.write_text(f"LEAKED={marker}\n")
        etc: Path | None = HOST_CANARY_FILE
    except OSError:
        etc = None
    yield {"marker": marker, "outside": outside, "etc": etc}
    if etc is not None:
        etc.unlink(missing_ok=True)


# --- host services a submission would like to reach ------------------------------------------


@pytest.fixture
def loopback_service():
    """A host service on 127.0.0.1 that answers a secret to anyone who asks (like a host's
    admin pages); it records every request."""
    secret = unique("HOST-LOOPBACK-SECRET-")
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(secret.encode())

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"port": server.server_address[1], "secret": secret, "requests": requests}
    server.shutdown()


@pytest.fixture
def host_listener():
    """A TCP service on all of the host's addresses; records who connects."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(16)
    server.settimeout(0.2)
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, address = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            seen.append(address)
            connection.close()

    threading.Thread(target=accept, daemon=True).start()
    yield {"port": server.getsockname()[1], "seen": seen}
    stop.set()
    server.close()


def host_addresses() -> list[str]:
    import subprocess

    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()
            if " lo " not in line and "10.213." not in line]  # fmt: skip
