"""The bench's private Drydock: its own SQLite database, static root, scratch directory and
Redis database, and the gunicorn and Celery processes it starts (and always stops).

The engine is started by `scripts/bench` (scripts/start-engine), which also stops it if it
was the one that started it. Everything here lives in one temporary directory, so a bench
run never touches `var/` or another engineer's data; Redis is a private `redis-server` on a
free loopback port (no persistence), so no other worker can take the bench's grading tasks
and no other test that stops the platform's Redis can break a bench run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
STOP_TIMEOUT_S = 20.0


class StackError(RuntimeError):
    """The bench could not set up or run a part of the stack (a harness failure)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc)."""
    found: list[int] = []
    task_dir = Path(f"/proc/{pid}/task")
    for task in task_dir.glob("*") if task_dir.is_dir() else []:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class Stack:
    """Owns the bench's directory and processes; `close()` stops and removes them all."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="drydock-bench-"))
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        self.redis_port = free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "drydock.settings.local",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(32),
            "DJANGO_DEBUG": "0",
            "DATABASE_URL": f"sqlite:///{self.dir / 'db.sqlite3'}",
            "DJANGO_STATIC_ROOT": str(self.dir / "static"),
            "DJANGO_LOG_LEVEL": "WARNING",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "DRYDOCK_SCRATCH_DIR": str(self.dir / "scratch"),
            "DRYDOCK_SUBMISSION_RATE": "10000/60",  # the bench submits far faster than a learner
            "PYTHONPATH": str(ROOT),
            "DOCKER_BUILDKIT": "0",
        }
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self.web_port = 0
        self.seen_jobs: set[str] = set()  # grading job ids seen in the scratch directory

    def note_jobs(self) -> None:
        """Remember the job ids of gradings under way (their scratch dirs live while they run)."""
        from .leftovers import job_ids_in

        self.seen_jobs |= job_ids_in(Path(self.env["DRYDOCK_SCRATCH_DIR"]))

    # set-up ---------------------------------------------------------------------------
    def apply_env(self) -> None:
        """Make this process use the bench's settings (before Django is set up)."""
        os.environ.update(self.env)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed: {done.stderr.strip()[-600:]}")
        return done.stdout

    def prepare_site(self) -> None:
        """Migrations, the lecture, the exercise and the static files, on the private database."""
        self.manage("migrate", "--no-input", "-v0")
        self.manage("load_course")
        self.manage("load_exercises")
        self.manage("collectstatic", "--no-input", "-v0")

    # processes ------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the process
        process = subprocess.Popen(  # noqa: S603 - our own argv
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        log.close()
        self._processes[name] = process
        return process

    def stop(self, name: str) -> None:
        """SIGTERM the process (a graceful stop), SIGKILL it if it does not go."""
        process = self._processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: the group is ours alone
            process.wait(timeout=STOP_TIMEOUT_S)

    def pid(self, name: str) -> int:
        return self._processes[name].pid

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def is_running(self, name: str) -> bool:
        return name in self._processes

    def start_redis(self) -> None:
        """The broker: Debian's redis-server on a private port, in memory only."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("redis-server is not installed (scripts/lib.sh installs it)")
        self._start(
            "redis",
            [
                binary, "--bind", "127.0.0.1", "--port", str(self.redis_port), "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--daemonize", "no",
            ],
        )  # fmt: skip
        import redis

        client = redis.Redis(port=self.redis_port, socket_connect_timeout=1)
        self._wait(client.ping, "redis", 20)

    def start_web(self, *, workers: int = 2, threads: int = 4) -> str:
        """gunicorn as scripts/run starts it (sync app, `--workers 2 --threads 4`), access log on."""
        self.web_port = free_port()
        self._start(
            "web",
            [
                str(VENV_BIN / "gunicorn"), "drydock.wsgi",
                "--bind", f"127.0.0.1:{self.web_port}",
                "--workers", str(workers), "--threads", str(threads),
                "--access-logfile", str(self.logs / "access.log"),
                "--error-logfile", "-", "--graceful-timeout", "5",
            ],
        )  # fmt: skip
        url = f"http://127.0.0.1:{self.web_port}"
        self._wait(lambda: _http_ok(url + "/"), "web", 30)
        self._wait(lambda: len(children(self.pid("web"))) >= workers, "web", 30)
        return url

    def web_workers(self) -> list[int]:
        return children(self.pid("web"))

    def start_worker(self, concurrency: int) -> str:
        """A Celery grading worker as in production (prefork, `-Q grading,celery`)."""
        name = f"bench{concurrency}-{secrets.token_hex(3)}@{socket.gethostname()}"
        self._start(
            "worker",
            [
                str(VENV_BIN / "celery"), "-A", "drydock", "worker", "-Q", "grading,celery",
                "-c", str(concurrency), "-n", name, "--loglevel", "WARNING",
            ],
        )  # fmt: skip
        from drydock.celery import app

        def ready() -> bool:
            replies = app.control.ping(destination=[name], timeout=0.5)
            return bool(replies)

        self._wait(ready, "worker", 60)
        self._wait(lambda: len(children(self.pid("worker"))) >= concurrency, "worker", 30)
        return name

    def worker_children(self) -> list[int]:
        return children(self.pid("worker"))

    def _wait(self, ready, name: str, timeout: float) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self._processes[name]
            if process.poll() is not None:
                raise StackError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")
            try:
                if ready():
                    return
            except Exception:  # noqa: BLE001,S110 - not up yet
                pass
            time.sleep(0.2)
        raise StackError(f"{name} did not become ready in {timeout:.0f}s:\n{self.log_tail(name)}")

    # tear-down ------------------------------------------------------------------------
    def close(self, *, keep: bool = False) -> None:
        for name in sorted(self._processes, key=lambda n: n == "redis"):  # the broker last
            self.stop(name)
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
        return response.status < 500


def wait_until(condition, timeout: float, interval: float = 0.25) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def executable(name: str, candidates: Iterable[Path] = ()) -> str | None:
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)
