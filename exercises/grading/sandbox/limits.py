"""Ceilings the engine cannot enforce by itself: the build cgroup (pids) and the disk guard.

A classic build cannot be given a pids limit: when the engine runs on this host with the
cgroupfs driver, the build's containers are put under a preset cgroup (`BuildCgroup`) that
carries the pids and memory ceilings, so any straggler can also be found and killed by its
cgroup. The engine cannot cap a writable layer either: `DiskGuard` measures a job's writes
and stops its writers once they pass the limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from .client import LABEL_SERVICE, engine_call, is_local_engine
from .errors import ENGINE_ERRORS, one_line

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
BUILD_CGROUP_PREFIX = "drydock-build-"
BUILD_CGROUP_MIN_AGE_S = 900  # the janitor never removes a younger build cgroup (see there)


class BuildCgroup:
    """A preset cgroup that every container of one classic build runs under.

    Classic builds take memory/CPU `container_limits` but no pids limit, and a build container
    is not labelled, so neither a fork bomb in a RUN step nor a runaway step after a timeout
    could otherwise be contained. The build is given `cgroupparent=/drydock-build-<name>`;
    this object creates that cgroup beforehand with `pids.max` (and the memory ceiling), lists
    the containers inside it (the cgroupfs driver names them by container id) so they can be
    killed, and removes it afterwards. Only possible when the engine runs on this host with the
    cgroupfs driver and the cgroup filesystem is writable; otherwise `parent` stays None and
    the build runs with memory/CPU limits only (documented limitation).
    """

    def __init__(
        self, client: docker.DockerClient, name: str, *, pids: int, memory_bytes: int
    ) -> None:
        self.client = client
        self.name = BUILD_CGROUP_PREFIX + name
        self.pids = pids
        self.memory_bytes = memory_bytes
        self.parent: str | None = None
        self.version: int | None = None
        self.reason = ""

    def __enter__(self) -> BuildCgroup:
        try:
            self._create()
        except OSError as error:
            self.reason = f"cannot create build cgroup: {one_line(error)}"
            self._remove()
            self.parent = None
        if self.parent is None:
            log.info("builds run without a pids limit: %s", self.reason)
        return self

    def __exit__(self, *exc: object) -> None:
        self._remove()

    def _create(self) -> None:
        if not is_local_engine(self.client):
            self.reason = "engine is remote"
            return
        with engine_call("reading engine info"):
            info = self.client.info()
        if info.get("CgroupDriver") != "cgroupfs":
            self.reason = f"engine cgroup driver is {info.get('CgroupDriver')!r}, not cgroupfs"
            return
        self.version = cgroup_version()
        if self.version == 2:
            path = CGROUP_ROOT / self.name
            path.mkdir(exist_ok=True)
            (path / "pids.max").write_text(str(self.pids))
            (path / "memory.max").write_text(str(self.memory_bytes))
            with contextlib.suppress(OSError):  # memory.swap.max is absent without swap accounting
                (path / "memory.swap.max").write_text("0")
        elif self.version == 1 and (CGROUP_ROOT / "pids").is_dir():
            pids = CGROUP_ROOT / "pids" / self.name
            pids.mkdir(exist_ok=True)
            (pids / "pids.max").write_text(str(self.pids))
            memory = CGROUP_ROOT / "memory" / self.name
            if (CGROUP_ROOT / "memory").is_dir():
                memory.mkdir(exist_ok=True)
                (memory / "memory.limit_in_bytes").write_text(str(self.memory_bytes))
        else:
            self.reason = "no pids cgroup controller found"
            return
        self.parent = "/" + self.name

    def _dirs(self) -> list[Path]:
        if self.version == 2:
            return [CGROUP_ROOT / self.name]
        return sorted(p for p in CGROUP_ROOT.glob(f"*/{self.name}") if p.is_dir())

    def container_ids(self) -> list[str]:
        """Ids of the containers currently running under this cgroup."""
        ids: set[str] = set()
        for directory in self._dirs():
            with contextlib.suppress(OSError):
                ids.update(
                    p.name
                    for p in directory.iterdir()
                    if p.is_dir() and re.fullmatch(r"[0-9a-f]{64}", p.name)
                )
        return sorted(ids)

    def kill_all(self) -> None:
        for container_id in self.container_ids():
            with contextlib.suppress(*ENGINE_ERRORS):
                self.client.api.kill(container_id)

    def _remove(self) -> None:
        for attempt in range(20):  # runc removes the container's cgroups a moment after it exits
            busy = False
            for directory in self._dirs():
                try:
                    directory.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    busy = True
            if not busy:
                return
            if attempt == 5:
                self.kill_all()
            time.sleep(0.1)
        log.warning("build cgroup %s still busy; the janitor will remove it", self.name)


def cgroup_version() -> int | None:
    """1 or 2 for the cgroup filesystem mounted at /sys/fs/cgroup on this host, None if unknown."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and parts[1] == str(CGROUP_ROOT):
            return 2 if parts[2] == "cgroup2" else 1
    return None


DISK_POLL_S = 0.25
DISK_EXCEEDED = (
    "{what} wrote {used} to disk, above the sandbox limit of {limit}, and was stopped{where}"
)


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


class DiskGuard:
    """Stops a job's writers once what they wrote to the engine's disk passes a limit.

    The engine cannot cap a container's writable layer here (overlay2 quotas need xfs with
    project quotas, which this kernel lacks), so a `RUN dd if=/dev/zero of=/x` would fill
    the host's disk. This thread measures the job's writes every DISK_POLL_S seconds
    (`measure` -> (bytes, where)) and calls `stop` once they pass `limit`; at a few hundred
    MB/s the overshoot stays below one poll's worth of writing.
    """

    def __init__(
        self,
        measure: Callable[[], tuple[int, str]],
        *,
        limit: int,
        stop: Callable[[], None],
        name: str,
        interval: float = DISK_POLL_S,
    ) -> None:
        self.measure = measure
        self.limit = limit
        self.stop = stop
        self.interval = interval
        self.peak = 0
        self.exceeded: tuple[int, str] | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=name, daemon=True)

    def start(self) -> None:
        if self.limit > 0:
            self._thread.start()

    def close(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def message(self, what: str) -> str:
        assert self.exceeded is not None
        used, where = self.exceeded
        return DISK_EXCEEDED.format(
            what=what, used=_mib(used), limit=_mib(self.limit), where=f" ({where})" if where else ""
        )

    def _watch(self) -> None:
        while not self._done.wait(self.interval):
            try:
                used, where = self.measure()
            except Exception as error:  # noqa: BLE001 - a failed measurement is retried
                log.debug("disk guard: measuring failed: %s", one_line(error))
                continue
            self.peak = max(self.peak, used)
            if used > self.limit:
                self.exceeded = (used, where)
                try:
                    self.stop()
                except Exception as error:  # noqa: BLE001 - the caller's teardown is the backstop
                    log.warning("disk guard: stopping the writers failed: %s", one_line(error))
                return


def container_writes(client: docker.DockerClient, filters: dict[str, Any]) -> dict[str, int]:
    """Bytes in the writable layer of each matching container (`docker ps --size`), by its
    service (or container id)."""
    listed = client.api.containers(all=True, size=True, filters=filters)
    return {
        (c.get("Labels") or {}).get(LABEL_SERVICE) or c["Id"][:12]: int(c.get("SizeRw") or 0)
        for c in listed
    }


def tree_bytes(root: Path, *, max_entries: int = 200_000) -> int:
    """Apparent size of the files under `root` (no links followed); stops counting after
    `max_entries` entries, reporting what it counted so far."""
    total, seen = 0, 0
    pending = [root]
    while pending and seen < max_entries:
        with contextlib.suppress(OSError), os.scandir(pending.pop()) as entries:
            for entry in entries:
                seen += 1
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
                    else:
                        total += entry.stat(follow_symlinks=False).st_size
    return total


_STEP = re.compile(r"^Step \d+/\d+ : (\w+)", re.I)
_LAYER = re.compile(r"^ ---> ([0-9a-f]{12,64})\s*$")


class _BuildWrites:
    """What a classic build has written so far: each stage's growth over its base image
    (read from the intermediate image ids in the build output) plus the writable layers of
    the step containers running now (found through the build's cgroup)."""

    def __init__(self, client: docker.DockerClient, cgroup: BuildCgroup) -> None:
        self.client = client
        self.cgroup = cgroup
        self.lock = threading.Lock()
        self.stages: list[list[str | None]] = []  # [base image id, latest image id]
        self.pending = ""
        self.expect_base = False
        self.sizes: dict[str, int] = {}

    def feed(self, text: str) -> None:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        with self.lock:
            for line in lines:
                step = _STEP.match(line)
                if step:
                    if step.group(1).upper() == "FROM":
                        self.stages.append([None, None])
                        self.expect_base = True
                    continue
                layer = _LAYER.match(line)
                if layer and self.stages:
                    if self.expect_base:
                        self.stages[-1][0] = layer.group(1)
                        self.expect_base = False
                    self.stages[-1][1] = layer.group(1)

    def measure(self) -> tuple[int, str]:
        with self.lock:
            stages = [list(stage) for stage in self.stages]
        committed = sum(
            max(0, self._size(last) - self._size(base))
            for base, last in stages
            if base and last and base != last
        )
        running = 0
        for container_id in self.cgroup.container_ids():
            running += sum(container_writes(self.client, {"id": container_id}).values())
        return committed + running, ""

    def _size(self, image_id: str) -> int:
        if image_id not in self.sizes:
            self.sizes[image_id] = int(self.client.api.inspect_image(image_id).get("Size") or 0)
        return self.sizes[image_id]
