"""The reliability suite's own grading engine: a second instance of `scripts/grading-engine`.

Why not the machine's grading engine: the fault tests restart and stop the engine, and the
leak check counts everything labelled `org.drydock.job` on it; on a shared engine that would
break, and be confused by, other people's gradings. This engine is built exactly like the
production one (the script is the single recipe): its own network namespace with no route
out, `--userns-remap=default`, a data root on a size-capped loop-mounted ext4 file system,
its own exec root and socket, and the stand-in images copied from the machine's engine. So
every hostile case here is also a check of the grading engine's design.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

NAME = "drydock-rel"
ROOT = Path(os.environ.get("DRYDOCK_RELIABILITY_ENGINE_ROOT", "/var/lib/drydock-reliability"))
RUN_DIR = Path(f"/run/{NAME}")
SOCKET = RUN_DIR / "docker.sock"
PIDFILE = RUN_DIR / "dockerd.pid"
SIZE = os.environ.get("DRYDOCK_RELIABILITY_ENGINE_SIZE", "24G")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "grading-engine"
# What grading the reference answer and the hostile cases needs (node:18: the dev baseline).
STANDINS = ("node:18-alpine", "postgres:14-alpine", "busybox:latest", "alpine:latest", "node:18")
# The machine's own engine, where the stand-ins are built (docker/standins/build).
MAIN_HOST = os.environ.get("DRYDOCK_MAIN_DOCKER_HOST", "unix:///var/run/docker.sock")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class EngineUnavailable(Exception):
    """The private engine cannot be set up on this machine (no root, no loop devices...)."""


def _run(argv: list[str], *, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": SYSTEM_PATH + ":" + os.environ.get("PATH", "")}
    return subprocess.run(argv, check=check, capture_output=True, text=True, env=env, **kwargs)


def _script(command: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": SYSTEM_PATH + ":" + os.environ.get("PATH", ""),
        "DRYDOCK_GRADING_ENGINE_NAME": NAME,
        "DRYDOCK_GRADING_ENGINE_ROOT": str(ROOT),
        "DRYDOCK_GRADING_ENGINE_SIZE": SIZE,
        "DRYDOCK_MAIN_DOCKER_HOST": MAIN_HOST,
        "DRYDOCK_GRADING_ENGINE_STANDINS": " ".join(STANDINS),
    }
    return subprocess.run(
        [str(SCRIPT), command], capture_output=True, text=True, env=env, timeout=600
    )


@dataclass
class PrivateEngine:
    root: Path = ROOT
    events: list[str] = field(default_factory=list)  # what was done, for the report

    @property
    def host(self) -> str:
        return f"unix://{SOCKET}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def open(self) -> PrivateEngine:
        if os.geteuid() != 0:
            raise EngineUnavailable("the reliability engine needs root (loop mount, dockerd)")
        self.start()
        return self

    def answering(self) -> bool:
        return _script("status").returncode == 0

    def pid(self) -> int | None:
        try:
            pid = int(PIDFILE.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def start(self, *, timeout: float = 60) -> float:
        """Start dockerd unless it answers already; returns the seconds it took."""
        started = time.monotonic()
        result = _script("start")
        if result.returncode != 0:
            raise EngineUnavailable(f"the reliability engine did not start:\n{result.stderr}")
        self.events += [line for line in result.stderr.splitlines() if "loading" in line]
        return time.monotonic() - started

    def stop(self, *, timeout: float = 60) -> None:
        """Stop dockerd like a service manager would (SIGTERM, then SIGKILL)."""
        _script("stop")

    def restart(self) -> float:
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the daemon; its file system (and the stand-ins' cache) stays for next time."""
        self.stop()

    # images --------------------------------------------------------------------------------
    @staticmethod
    def _image_ids(host: str, refs: tuple[str, ...]) -> dict[str, str]:
        """The stand-ins' identities: their recipe hash (a rebuild of the same recipe makes a
        new image id, not a different image), else their id."""
        found = {}
        template = '{{or (index .Config.Labels "org.drydock.standin.recipe") .Id}}'
        for ref in refs:
            result = _run(["docker", "-H", host, "image", "inspect", "--format", template, ref],
                          check=False)  # fmt: skip
            if result.returncode == 0:
                found[ref] = result.stdout.strip()
        return found

    def load_standins(self, refs: tuple[str, ...] = STANDINS) -> list[str]:
        """Copy the stand-in images from the machine's engine where missing or different."""
        source = self._image_ids(MAIN_HOST, refs)
        if missing := sorted(set(refs) - set(source)):
            raise EngineUnavailable(
                f"stand-in images missing on the machine's engine: {', '.join(missing)} "
                "(run docker/standins/build)"
            )
        here = self._image_ids(self.host, refs)
        wanted = [ref for ref in refs if here.get(ref) != source[ref]]
        if wanted:
            save = subprocess.Popen(
                ["docker", "-H", MAIN_HOST, "save", *wanted], stdout=subprocess.PIPE
            )
            load = subprocess.run(
                ["docker", "-H", self.host, "load", "-q"], stdin=save.stdout, capture_output=True,
                text=True,
            )  # fmt: skip
            assert save.stdout is not None
            save.stdout.close()
            save.wait()
            if save.returncode or load.returncode:
                raise EngineUnavailable(f"copying stand-ins failed: {load.stderr.strip()}")
            self.events.append(f"copied stand-ins: {', '.join(wanted)}")
        return wanted

    def disk(self) -> tuple[int, int]:
        """(used, size) bytes of the engine's data filesystem."""
        stats = os.statvfs(self.data)
        size = stats.f_blocks * stats.f_frsize
        return size - stats.f_bavail * stats.f_frsize, size
