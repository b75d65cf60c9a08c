"""The reliability suite's own Docker engine: a second dockerd on a size-capped filesystem.

Why not the machine's engine: the fault tests restart and stop the engine, and the leak
check counts everything labelled `org.drydock.job` on it; on a shared engine that would
break, and be confused by, other people's gradings. This engine is the same dockerd
(Debian docker.io 20.10, overlay2, cgroupfs) with its own socket, exec root and data root;
the data root is an ext4 filesystem in a sparse image file (`SIZE`), loop-mounted, so
nothing a submission does can fill the host's disk (the grader's disk guard stops it
much earlier; this is the backstop). The stand-in base images are copied over from the
machine's engine (`docker save | docker load`, only those missing or different).

Network: the engine runs with `--iptables=false` (a second daemon managing Docker's
iptables chains would fight the first) and address pool `POOL`. The machine's engine
sets the FORWARD policy to DROP, so one rule lets bridged traffic inside the pool through
(containers of one job network talking to each other) and nothing else. The rule and the
engine's default bridge, an interface of its own (`BRIDGE`), are removed by `close()`.

Never touch docker0, the machine engine's bridge: moby deletes the link named docker0 when
it starts with `--bridge none`, and when it starts with `--default-address-pool` and finds
the default bridge network of its previous run in its network store
(`removeDefaultBridgeInterface`). So this engine has a bridge of its own, and its network
store is reset before every start (`_forget_networks`); a restart loses the records of
leftover job networks, which the janitor would otherwise have removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(os.environ.get("DRYDOCK_RELIABILITY_ENGINE_ROOT", "/var/lib/drydock-reliability"))
RUN_DIR = Path("/run/drydock-rel")  # short: unix socket paths are limited to 108 bytes
SOCKET = RUN_DIR / "docker.sock"
PIDFILE = RUN_DIR / "dockerd.pid"
SIZE = os.environ.get("DRYDOCK_RELIABILITY_ENGINE_SIZE", "24G")
POOL = "10.213.0.0/16"
BRIDGE, BRIDGE_ADDRESS = "drydockrel0", "10.214.0.1/24"  # its default bridge (never docker0)
FORWARD_RULE = [
    "FORWARD", "-s", POOL, "-d", POOL, "-m", "physdev", "--physdev-is-bridged",
    "-m", "comment", "--comment", "drydock-reliability-engine", "-j", "ACCEPT",
]  # fmt: skip
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


def _mounted(path: Path) -> bool:
    return any(
        line.split()[1] == str(path) for line in Path("/proc/mounts").read_text().splitlines()
    )


@dataclass
class PrivateEngine:
    root: Path = ROOT
    process: subprocess.Popen | None = None
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

    # set-up --------------------------------------------------------------------------------
    def open(self) -> PrivateEngine:
        if os.geteuid() != 0:
            raise EngineUnavailable("the reliability engine needs root (loop mount, dockerd)")
        self._filesystem()
        self._forward_rule(add=True)
        self._bridge(add=True)
        self.start()
        return self

    def _bridge(self, *, add: bool) -> None:
        present = _run(["ip", "link", "show", BRIDGE], check=False).returncode == 0
        if add and not present:
            _run(["ip", "link", "add", BRIDGE, "type", "bridge"])
            _run(["ip", "addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE])
            _run(["ip", "link", "set", BRIDGE, "up"])
        elif not add and present:
            _run(["ip", "link", "delete", BRIDGE], check=False)

    def _filesystem(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(exist_ok=True)
        if _mounted(self.data):
            return
        image = self.root / "engine.img"
        if not image.exists():
            _run(["truncate", "-s", SIZE, str(image)])
            _run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)])
            self.events.append(f"created a {SIZE} ext4 image for the engine's data root")
        try:
            # discard: what the engine deletes is given back to the host's disk (the image
            # file stays sparse instead of growing to SIZE as builds come and go)
            _run(["mount", "-o", "loop,discard", str(image), str(self.data)])
        except subprocess.CalledProcessError as error:
            raise EngineUnavailable(f"cannot loop-mount {image}: {error.stderr.strip()}") from None

    def _forward_rule(self, *, add: bool) -> None:
        present = _run(["iptables", "-C", *FORWARD_RULE], check=False).returncode == 0
        if add and not present:
            _run(["iptables", "-I", FORWARD_RULE[0], "1", *FORWARD_RULE[1:]])
        elif not add and present:
            _run(["iptables", "-D", *FORWARD_RULE], check=False)

    # the daemon ----------------------------------------------------------------------------
    def answering(self) -> bool:
        if not SOCKET.exists():
            return False
        return (
            _run(["docker", "-H", self.host, "version", "--format", "{{.Server.Version}}"],
                 check=False, timeout=10).returncode == 0
        )  # fmt: skip

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
        if self.answering():
            return 0.0
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        if self.pid() is None:
            PIDFILE.unlink(missing_ok=True)
            SOCKET.unlink(missing_ok=True)
            self._forget_networks()
            with self.log.open("ab") as output:
                self.process = subprocess.Popen(
                    ["dockerd", "--data-root", str(self.data), "--exec-root", str(RUN_DIR),
                     "--host", self.host, "--pidfile", str(PIDFILE), "--bridge", BRIDGE,
                     "--iptables=false", "--ip-masq=false", "--storage-driver", "overlay2",
                     "--default-address-pool", f"base={POOL},size=24"],
                    stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    env={**os.environ, "PATH": SYSTEM_PATH},
                )  # fmt: skip
        while time.monotonic() - started < timeout:
            if self.answering():
                return time.monotonic() - started
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.2)
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        raise EngineUnavailable(f"the reliability engine did not start:\n{tail}")

    def _forget_networks(self) -> None:
        """See the module doc: without a stale default bridge record, docker0 is left alone."""
        (self.data / "network" / "files" / "local-kv.db").unlink(missing_ok=True)

    def stop(self, *, timeout: float = 60) -> None:
        """Stop dockerd like a service manager would (SIGTERM, then SIGKILL)."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid() == pid:
            time.sleep(0.2)
        if self.pid() == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(1)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> float:
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the daemon and remove the FORWARD rule; the image (and its cache) stays."""
        self.stop()
        self._forward_rule(add=False)
        self._bridge(add=False)
        if _mounted(self.data):
            _run(["fstrim", str(self.data)], check=False)
            _run(["umount", str(self.data)], check=False)

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
