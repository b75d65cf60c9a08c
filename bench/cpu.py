"""Where the CPU goes during a batch of gradings: the engine daemons, the containers, the
grading worker (with the tools it ran), and everything else on the machine. The engine is
the grading engine the bench grades on (its dockerd, its containerd, its cgroup).

Read from Linux's /proc (`utime+stime`, and `cutime+cstime` for reaped children such as
hadolint and docker-compose) and the containers' cgroup (`cpuacct.usage` of `docker/`,
which keeps what removed containers used). Build steps run in their own cgroups, removed
after each build, so they fall under "other".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK_S = 1 / os.sysconf("SC_CLK_TCK")
CONTAINERS_CGROUP = (
    Path("/sys/fs/cgroup/cpuacct/docker/cpuacct.usage"),
    Path("/sys/fs/cgroup/cpu,cpuacct/docker/cpuacct.usage"),
)


def _process_s(pid: int, *, with_children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime (reaped children)
    return ticks * TICK_S


def _pid_of(name: str, pidfile: str = "", *, marker: str = "") -> int | None:
    """A process by its pid file, else the first named `name` whose command line holds `marker`."""
    if pidfile and Path(pidfile).is_file():
        return int(Path(pidfile).read_text().strip() or 0) or None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name and marker in (
                    entry / "cmdline"
                ).read_bytes().decode(errors="replace"):
                    return int(entry.name)
            except OSError:
                continue
    return None


def grading_engine_run_dir() -> Path | None:
    """/run/<name> of the grading engine the bench grades on (DRYDOCK_GRADING_ENGINE, else
    scripts/grading-engine's default socket), or None for the machine's engine."""
    address = os.environ.get("DRYDOCK_GRADING_ENGINE", "unix:///run/drydock-grading/docker.sock")
    if not address.startswith("unix://"):
        return None
    socket = Path(address.removeprefix("unix://"))
    return socket.parent if (socket.parent / "dockerd.pid").is_file() else None


def _machine_busy_s() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) * TICK_S  # all but idle and iowait


def _containers_s(paths: tuple[Path, ...]) -> float:
    for path in paths:
        if path.is_file():
            return int(path.read_text()) / 1e9
    return 0.0


@dataclass
class CpuSample:
    machine: float
    dockerd: float
    containerd: float
    containers: float
    worker: float


class CpuMeter:
    """`sample()` before and after; `split(before, after)` -> CPU seconds per part."""

    def __init__(self, worker_pids: callable) -> None:  # type: ignore[valid-type]
        self.worker_pids = worker_pids
        run = grading_engine_run_dir()
        if run is None:  # the machine's engine
            self.dockerd = _pid_of("dockerd", "/var/run/docker.pid")
            self.containerd = _pid_of("containerd", marker="/var/run/docker/")
            self.cgroups = CONTAINERS_CGROUP
        else:  # the grading engine: its own daemon, containerd and cgroup (scripts/grading-engine)
            self.dockerd = _pid_of("dockerd", str(run / "dockerd.pid"))
            self.containerd = _pid_of("containerd", marker=f"{run}/exec/")
            self.cgroups = tuple(
                Path(f"/sys/fs/cgroup/{c}/{run.name}/cpuacct.usage")
                for c in ("cpuacct", "cpu,cpuacct")
            )

    def sample(self) -> CpuSample:
        main, *children = self.worker_pids()
        return CpuSample(
            machine=_machine_busy_s(),
            dockerd=_process_s(self.dockerd) if self.dockerd else 0.0,
            containerd=_process_s(self.containerd) if self.containerd else 0.0,
            containers=_containers_s(self.cgroups),
            worker=_process_s(main, with_children=True)
            + sum(_process_s(p, with_children=True) for p in children),
        )

    @staticmethod
    def split(before: CpuSample, after: CpuSample) -> dict[str, float]:
        parts = {
            name: getattr(after, name) - getattr(before, name)
            for name in ("dockerd", "containerd", "containers", "worker")
        }
        parts["other"] = max(0.0, after.machine - before.machine - sum(parts.values()))
        return parts
