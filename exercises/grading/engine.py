"""Every call to the Docker engine: builds, sandboxed runs, probes, teardown, janitor.

Pure Python on docker-py; no Django. The engine address comes from the environment
(`DOCKER_HOST`, `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH` through `docker.from_env()`), so a
worker may use a remote engine. Two facts about the engine this targets (Debian docker.io
20.10, classic builder) shape the code:

* A classic build cannot be given a pids limit, and closing the HTTP connection is the only
  way to cancel it. `build_image` therefore streams the build in a thread, enforces the
  wall-clock limit itself (shutting the socket down, which makes the daemon cancel the build
  and kill its RUN container), and, when the engine runs on this host with the cgroupfs
  driver, puts the build's containers under a preset cgroup (`BuildCgroup`) that carries the
  pids and memory ceilings, so any straggler can also be found and killed by its cgroup.
* Nothing can be pulled. Images are only ever looked up locally (`local_image`).

Resource ownership (STYLE.md rule 6): `SandboxJob` owns everything one grading job creates on
the engine (containers, networks, volumes, images, all labelled `org.drydock.job=<job_id>`);
its `__exit__` kills and removes them whatever happened. `janitor` removes what crashed
workers left behind.

Errors: engine failures that are not the learner's fault raise `InfrastructureError` with a
one-line message. Learner faults (a build that fails, a container that cannot start, a probe
that times out) are returned as values for the runtime to turn into observations.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import queue
import re
import select
import socket
import struct
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker.errors
import requests.exceptions
from docker.models.containers import Container

import docker

from .types import InfrastructureError, ProgressCallback, SandboxLimits, Stage, no_progress

log = logging.getLogger(__name__)

LABEL_JOB = "org.drydock.job"
LABEL_MANAGED = "org.drydock.managed"
LABEL_SERVICE = "org.drydock.service"
LABEL_BASELINE = "org.drydock.baseline"
LABEL_STANDIN = "org.drydock.standin"

CLIENT_TIMEOUT_S = 120  # per-request socket timeout; long streams enforce their own deadlines
CGROUP_ROOT = Path("/sys/fs/cgroup")
BUILD_CGROUP_PREFIX = "drydock-build-"
BUILD_CGROUP_MIN_AGE_S = 900  # the janitor never removes a younger build cgroup (see there)
LOG_MAX_SIZE = "1m"  # json-file rotation of sandbox containers
# The bridge driver's option that leaves the host without an address on a job network.
NETWORK_NO_HOST_ADDRESS = "com.docker.network.bridge.inhibit_ipv4"

# Errors the engine raises that are "the engine is in trouble", never the learner's fault.
ENGINE_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    ConnectionError,
    socket.timeout,
)


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """An exception or message squeezed onto one line (learner- and log-friendly)."""
    text = error if isinstance(error, str) else (getattr(error, "explanation", None) or str(error))
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextlib.contextmanager
def engine_call(what: str) -> Iterator[None]:
    """Turn engine/transport failures inside the block into `InfrastructureError`."""
    try:
        yield
    except InfrastructureError:
        raise
    except ENGINE_ERRORS as error:
        raise InfrastructureError(f"engine: {what} failed: {one_line(error)}") from error


def connect(*, timeout: int = CLIENT_TIMEOUT_S) -> docker.DockerClient:
    """A client for the engine named by the environment; `InfrastructureError` if unreachable."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except ENGINE_ERRORS as error:
        raise InfrastructureError(f"engine unreachable: {one_line(error)}") from error
    return client


class ContainerRejected(Exception):
    """The engine refused a container's configuration (400): the learner's compose file."""


class Deadline:
    """A wall-clock budget measured on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end


def local_image(client: docker.DockerClient, ref: str) -> dict[str, Any] | None:
    """`docker image inspect` of a local image, or None: nothing is ever pulled."""
    try:
        return client.api.inspect_image(ref)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as error:
        if error.status_code in (400, 404):  # an unparsable reference is simply "not here"
            return None
        raise InfrastructureError(
            f"engine: inspecting image {ref} failed: {one_line(error)}"
        ) from error
    except ENGINE_ERRORS as error:
        raise InfrastructureError(
            f"engine: inspecting image {ref} failed: {one_line(error)}"
        ) from error


def is_local_engine(client: docker.DockerClient) -> bool:
    return client.api.base_url == "http+docker://localhost"  # docker-py's spelling of a unix socket


class TailBuffer:
    """Keeps the last `limit` bytes of a log (the end of a failing build is what matters)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1024, limit)
        self.parts: deque[str] = deque()
        self.size = 0
        self.dropped = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        while self.size > self.limit and len(self.parts) > 1:
            gone = self.parts.popleft()
            self.size -= len(gone)
            self.dropped += len(gone)
        if self.size > self.limit:  # one huge part
            only = self.parts.pop()
            self.dropped += len(only) - self.limit
            self.parts.append(only[-self.limit :])
            self.size = self.limit

    def text(self) -> str:
        head = f"[… {self.dropped} earlier bytes of log dropped …]\n" if self.dropped else ""
        return head + "".join(self.parts)

    def last_lines(self, count: int) -> list[str]:
        lines = [line for line in "".join(self.parts).splitlines() if line.strip()]
        return lines[-count:]


# --------------------------------------------------------------------------------------
# Builds
# --------------------------------------------------------------------------------------


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


@dataclass
class BuildOutcome:
    ok: bool
    image_id: str | None = None
    error: str | None = None  # a learner-visible one-line reason
    log: str = ""
    duration_ms: int = 0
    timed_out: bool = False
    pids_limited: bool = False


class _BuildAPI(docker.APIClient):
    """An APIClient for exactly one build: remembers the streaming response (so the build can
    be cancelled by shutting its socket down) and can pass `cgroupparent`, which docker-py's
    `build()` does not expose."""

    def __init__(
        self, *args: Any, cgroup_parent: str | None = None, nano_cpus: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.extra_params: dict[str, Any] = {}
        if cgroup_parent:
            self.extra_params["cgroupparent"] = cgroup_parent
        if nano_cpus:  # a CPU quota rather than pinning every build to the same cpuset
            self.extra_params.update(
                cpuperiod=100_000, cpuquota=nano_cpus * 100_000 // 1_000_000_000
            )
        self.response: Any = None

    def _post(self, url: str, **kwargs: Any) -> Any:  # type: ignore[override]
        if url.endswith("/build"):
            kwargs.setdefault("params", {}).update(self.extra_params)
        response = super()._post(url, **kwargs)
        if url.endswith("/build"):
            self.response = response
        return response

    def abort(self) -> None:
        """Shut the build's connection down: the daemon cancels the build and kills its step."""
        response = self.response
        if response is None:
            return
        with contextlib.suppress(Exception):
            raw = self._get_raw_response_socket(response)
            getattr(raw, "_sock", raw).shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            response.close()


def _build_api(
    client: docker.DockerClient, timeout: int, cgroup_parent: str | None, nano_cpus: int
) -> _BuildAPI:
    kwargs = docker.utils.kwargs_from_env()
    kwargs.pop("version", None)
    return _BuildAPI(
        version=client.api.api_version,
        timeout=timeout,
        cgroup_parent=cgroup_parent,
        nano_cpus=nano_cpus,
        **kwargs,
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _describe_build_failure(message: str, log_tail: TailBuffer, limits: SandboxLimits) -> str:
    """A clear one-line reason for a failed classic build, with the last lines of output."""
    step = ""
    lines = log_tail.last_lines(400)
    for line in reversed(lines):
        if line.startswith("Step "):
            step = line.split(" : ", 1)[-1].strip()
            break
    lowered = message.lower()
    if step.upper().startswith("FROM") and any(
        s in lowered
        for s in (
            "pull access denied",
            "dial tcp",
            "no such host",
            "lookup ",
            "manifest unknown",
            "not found",
        )
    ):
        return f"base image not available in the sandbox ({step}): nothing can be pulled here, use a local image"
    code = re.search(r"returned a non-zero code: (\d+)", message)
    if code:
        message = f"exit code {code.group(1)}"
        if code.group(1) == "137":
            message += f" (killed: out of memory? builds are limited to {limits.memory_bytes // 2**20} MiB)"
    shown = one_line(step, 120)
    reason = f"build failed at `{shown}`: {message}" if step else f"build failed: {message}"
    output = [
        line for line in lines if not line.startswith(("Step ", " ---> ", "Removing intermediate"))
    ]
    if code and output:
        reason += "; last output: " + " | ".join(one_line(line, 160) for line in output[-3:])
    return one_line(reason, 600)


# --------------------------------------------------------------------------------------
# Disk guard
# --------------------------------------------------------------------------------------

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


def build_image(
    client: docker.DockerClient,
    *,
    context: Path,
    dockerfile: str,
    tag: str,
    labels: dict[str, str],
    limits: SandboxLimits,
    progress: ProgressCallback = no_progress,
    buildargs: dict[str, str] | None = None,
    target: str | None = None,
    cgroup_name: str | None = None,
    what: str = "image",
) -> BuildOutcome:
    """Build `context` with the classic builder under the sandbox limits.

    Learner faults (the Dockerfile fails, the build overruns `limits.build_timeout_s`) come
    back as `BuildOutcome(ok=False, error=...)`; engine failures raise `InfrastructureError`.
    """
    started = time.monotonic()
    deadline = Deadline(limits.build_timeout_s)
    buffer = TailBuffer(limits.log_bytes)
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    with BuildCgroup(
        client,
        cgroup_name or tag.replace("/", "-").replace(":", "-"),
        pids=limits.pids,
        memory_bytes=limits.memory_bytes,
    ) as cgroup:
        api = _build_api(client, limits.build_timeout_s + 30, cgroup.parent, limits.nano_cpus)
        kwargs: dict[str, Any] = dict(
            path=str(context),
            dockerfile=dockerfile,
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            labels=labels,
            timeout=limits.build_timeout_s + 30,
            network_mode=None if limits.build_network else "none",
            container_limits={
                "memory": limits.memory_bytes,
                "memswap": limits.memory_bytes,  # no swap: an OOM is an OOM
                "cpushares": 512,  # + the CPU quota `_BuildAPI` adds
            },
            buildargs=buildargs or None,
            target=target or None,
            use_config_proxy=False,
        )

        def pump() -> None:
            try:
                for item in api.build(**kwargs):
                    events.put(("item", item))
                events.put(("done", None))
            except BaseException as error:  # noqa: BLE001 - handed to the main thread
                events.put(("raised", error))

        def stop() -> None:
            cgroup.kill_all()  # the step container first: it is the one writing
            api.abort()

        writes = _BuildWrites(client, cgroup)
        guard = DiskGuard(writes.measure, limit=limits.disk_bytes, stop=stop, name=f"disk-{tag}")
        thread = threading.Thread(target=pump, name=f"build-{tag}", daemon=True)
        thread.start()
        image_id: str | None = None
        error: str | None = None
        timed_out = False
        guard.start()
        try:
            while True:
                if guard.exceeded:
                    break
                try:
                    kind, payload = events.get(timeout=max(0.05, min(1.0, deadline.remaining())))
                except queue.Empty:
                    if deadline.expired:
                        timed_out = True
                        break
                    continue
                if kind == "done":
                    break
                if kind == "raised":
                    if guard.exceeded:
                        break
                    if deadline.expired:
                        timed_out = True
                        break
                    if isinstance(
                        payload, docker.errors.BuildError | docker.errors.APIError
                    ) and _learner_build_error(payload):
                        error = _describe_build_failure(one_line(payload), buffer, limits)
                        break
                    raise InfrastructureError(
                        f"engine: building {what} failed: {one_line(payload)}"
                    ) from payload
                text = payload.get("stream") or ""
                if payload.get("status"):
                    text += payload["status"] + "\n"
                text = _ANSI.sub("", text)
                if text:
                    buffer.add(text)
                    writes.feed(text)
                    progress(Stage.BUILDING, f"building {what}", text)
                if payload.get("aux", {}).get("ID"):
                    image_id = payload["aux"]["ID"]
                if payload.get("error"):
                    error = _describe_build_failure(one_line(payload["error"]), buffer, limits)
                    buffer.add(f"ERROR: {payload['error']}\n")
                    break
        finally:
            guard.close()
            if timed_out or thread.is_alive():
                api.abort()
                cgroup.kill_all()
                thread.join(timeout=10)
            api.close()
        if guard.exceeded:
            timed_out, image_id = False, None
            error = guard.message(f"the build of {what}")
            buffer.add(f"\nERROR: {error}\n")
        elif timed_out:
            error = (
                f"build timed out after {limits.build_timeout_s}s (the sandbox limit); last output: "
                + " | ".join(buffer.last_lines(3))
            )
            buffer.add(f"\nERROR: build timed out after {limits.build_timeout_s}s\n")
        if error is None and image_id is None:
            image_id = _image_id_from_log(buffer)
        if error is None and image_id is None:
            error = "build produced no image: " + " | ".join(buffer.last_lines(3))
    return BuildOutcome(
        ok=error is None,
        image_id=image_id if error is None else None,
        error=one_line(error, 600) if error else None,
        log=buffer.text(),
        duration_ms=int((time.monotonic() - started) * 1000),
        timed_out=timed_out,
        pids_limited=cgroup.parent is not None,
    )


def _learner_build_error(error: BaseException) -> bool:
    """A /build request refused for a reason in the learner's files (bad Dockerfile path...)."""
    status = getattr(error, "status_code", None)
    return status is not None and 400 <= status < 500


def _image_id_from_log(buffer: TailBuffer) -> str | None:
    match = re.findall(r"Successfully built ([0-9a-f]{12,64})", "".join(buffer.parts))
    return match[-1] if match else None


def tree_digest(root: Path) -> str:
    """sha256 of a directory's files (paths and contents), ignoring node_modules and .git."""
    digest = hashlib.sha256()
    for path in sorted(
        p for p in root.rglob("*") if p.is_file() and not {"node_modules", ".git"} & set(p.parts)
    ):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class Baseline:
    tag: str | None
    size: int | None
    note: str = ""
    built: bool = False
    duration_ms: int = 0


def ensure_baseline(
    client: docker.DockerClient,
    context: Path,
    *,
    limits: SandboxLimits,
    progress: ProgressCallback = no_progress,
    name: str = "starter",
) -> Baseline:
    """The development image of the starter project, built once per starter content.

    Tagged `drydock/baseline-<name>:<content hash>` and labelled `org.drydock.baseline=<name>`
    (not with a job label), so every job reuses it; `janitor` drops superseded ones. A failure
    is a sandbox note, not an error: only the size comparison is lost.
    """
    started = time.monotonic()
    tag = f"drydock/baseline-{name}:{tree_digest(context)[:16]}"
    attrs = local_image(client, tag)
    if attrs is None:
        outcome = build_image(
            client,
            context=context,
            dockerfile="Dockerfile",
            tag=tag,
            labels={LABEL_BASELINE: name, LABEL_MANAGED: "1"},
            limits=limits,
            progress=progress,
            cgroup_name=f"baseline-{os.getpid()}-{threading.get_ident() % 10**6}",
            what="the development baseline",
        )
        if not outcome.ok:
            return Baseline(
                None, None, f"sandbox: the development baseline could not be built: {outcome.error}"
            )
        attrs = local_image(client, tag)
        if attrs is None:
            return Baseline(
                None, None, "sandbox: the development baseline image vanished after its build"
            )
        return Baseline(
            tag, attrs.get("Size"), built=True, duration_ms=int((time.monotonic() - started) * 1000)
        )
    return Baseline(tag, attrs.get("Size"), duration_ms=int((time.monotonic() - started) * 1000))


# --------------------------------------------------------------------------------------
# Exec with a deadline
# --------------------------------------------------------------------------------------


@dataclass
class ExecResult:
    exit_code: int | None  # None when it timed out or could not run
    output: str = ""
    timed_out: bool = False
    error: str | None = None  # the exec could not be started (container not running...)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def exec_in(
    client: docker.DockerClient,
    container_id: str,
    argv: list[str],
    *,
    timeout: float,
    user: str = "",
    max_output: int = 16 * 1024,
) -> ExecResult:
    """Run `argv` in a running container, giving up after `timeout` seconds.

    docker-py's exec reader blocks without a timeout (it polls forever), so this reads the
    multiplexed stream itself with `poll()` and a deadline. A timed-out process is left to die
    with its container (pids-limited), as Docker's own health checker would leave it.
    """
    deadline = Deadline(timeout)
    try:
        exec_id = client.api.exec_create(container_id, argv, stdout=True, stderr=True, user=user)[
            "Id"
        ]
        sock = client.api.exec_start(exec_id, socket=True)
    except docker.errors.APIError as error:
        if (
            error.status_code in (404, 409)
            or error.status_code == 500
            and "not running" in str(error)
        ):
            return ExecResult(exit_code=None, error=one_line(error))
        raise InfrastructureError(
            f"engine: exec in {container_id[:12]} failed: {one_line(error)}"
        ) from error
    except ENGINE_ERRORS as error:
        raise InfrastructureError(
            f"engine: exec in {container_id[:12]} failed: {one_line(error)}"
        ) from error
    raw = getattr(sock, "_sock", sock)
    data = bytearray()
    timed_out = False
    try:
        poller = select.poll()
        poller.register(raw.fileno(), select.POLLIN | select.POLLPRI | select.POLLHUP)
        while True:
            if not (hasattr(raw, "pending") and raw.pending()):
                left = deadline.remaining()
                if left <= 0:
                    timed_out = True
                    break
                if not poller.poll(int(left * 1000) + 1):
                    continue
            chunk = raw.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > max_output + 65536:
                del data[max_output:]
    except OSError as error:
        return ExecResult(
            exit_code=None, output=_demux(bytes(data), max_output), error=one_line(error)
        )
    finally:
        with contextlib.suppress(OSError):
            raw.close()
        with contextlib.suppress(Exception):
            sock.close()
    output = _demux(bytes(data), max_output)
    if timed_out:
        return ExecResult(exit_code=None, output=output, timed_out=True)
    with engine_call("inspecting an exec"):
        for _ in range(20):  # the exit code lands a moment after the stream closes
            info = client.api.exec_inspect(exec_id)
            if not info.get("Running"):
                return ExecResult(exit_code=info.get("ExitCode"), output=output)
            time.sleep(0.02)
    return ExecResult(exit_code=None, output=output, timed_out=True)


def _demux(data: bytes, limit: int) -> str:
    """Docker's multiplexed stream (8-byte frame headers) to text; raw text if not framed."""
    out = bytearray()
    view = memoryview(data)
    position = 0
    while position + 8 <= len(view):
        stream, size = struct.unpack(">BxxxL", view[position : position + 8])
        if stream not in (0, 1, 2):
            return data[:limit].decode("utf-8", "replace")
        out += view[position + 8 : position + 8 + size]
        position += 8 + size
    return bytes(out[:limit]).decode("utf-8", "replace")


# --------------------------------------------------------------------------------------
# The sandbox job: owner of every engine resource of one grading
# --------------------------------------------------------------------------------------


@dataclass
class _Owned:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


class SandboxJob:
    """Owns the engine resources of one grading job and always releases them.

    Everything is created through this object, named `drydock-<job_id>-…` and labelled
    `org.drydock.job=<job_id>` + `org.drydock.managed=1`; `__exit__` kills and removes the
    containers, then the networks, volumes and job images, tracked ones first and then
    anything else found by the job label. Shared images (stand-ins, the dev baseline) are
    never touched.
    """

    def __init__(self, client: docker.DockerClient, job_id: str, limits: SandboxLimits) -> None:
        if not re.fullmatch(r"[a-z0-9]{1,40}", job_id):
            raise ValueError(f"job_id must be 1-40 chars of [a-z0-9], got {job_id!r}")
        self.client = client
        self.job_id = job_id
        self.limits = limits
        self.owned = _Owned()
        self.teardown_errors: list[str] = []
        self.teardown_ms = 0

    # context manager ---------------------------------------------------------------
    def __enter__(self) -> SandboxJob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    # naming ------------------------------------------------------------------------
    def name(self, suffix: str) -> str:
        clean = re.sub(r"[^a-zA-Z0-9_.-]", "-", suffix).strip("-.") or "x"
        return f"drydock-{self.job_id}-{clean}"[:120]

    @property
    def image_repo(self) -> str:
        return f"drydock/job-{self.job_id}"

    def labels(
        self, service: str | None = None, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        labels = dict(extra or {})
        labels.update({LABEL_JOB: self.job_id, LABEL_MANAGED: "1"})
        if service:
            labels[LABEL_SERVICE] = service
        return labels

    # resources ---------------------------------------------------------------------
    def track_image(self, image_id: str) -> None:
        self.owned.images.append(image_id)

    def create_network(self, suffix: str) -> str:
        """An internal bridge network whose bridge has no address on the host.

        `internal` only stops forwarding; the host itself still answers on the bridge's
        gateway address, so a container could reach every host service listening on
        0.0.0.0. Inhibiting the bridge's IPv4 address leaves the host nothing to answer on,
        while containers on the network still reach each other.
        """
        name = self.name(suffix)
        with engine_call(f"creating network {name}"):
            network = self.client.api.create_network(
                name, driver="bridge", internal=True, labels=self.labels(), check_duplicate=True,
                options={NETWORK_NO_HOST_ADDRESS: "true"},
            )  # fmt: skip
        self.owned.networks.append(network["Id"])
        return name

    def create_volume(self, suffix: str, *, driver_opts: dict[str, str] | None = None) -> str:
        name = self.name(suffix)
        with engine_call(f"creating volume {name}"):
            self.client.api.create_volume(
                name, driver="local", driver_opts=driver_opts or None, labels=self.labels()
            )
        self.owned.volumes.append(name)
        return name

    def create_container(self, *, service: str, image: str, **kwargs: Any) -> Container:
        """Create (not start) a container with the sandbox ceilings the caller computed."""
        kwargs["labels"] = self.labels(service, kwargs.get("labels"))
        kwargs.setdefault(
            "log_config",
            docker.types.LogConfig(
                type="json-file", config={"max-size": LOG_MAX_SIZE, "max-file": "1"}
            ),
        )
        kwargs.setdefault("name", self.name(service))
        kwargs["ports"] = None
        kwargs["publish_all_ports"] = False
        try:
            container = self.client.containers.create(image, **kwargs)
        except docker.errors.APIError as error:
            if error.status_code == 400:
                raise ContainerRejected(one_line(error)) from error
            raise InfrastructureError(
                f"engine: creating container for {service} failed: {one_line(error)}"
            ) from error
        except ENGINE_ERRORS as error:
            raise InfrastructureError(
                f"engine: creating container for {service} failed: {one_line(error)}"
            ) from error
        self.owned.containers.append(container.id)
        return container

    def exec(
        self, container_id: str, argv: list[str], *, timeout: float, user: str = ""
    ) -> ExecResult:
        return exec_in(self.client, container_id, argv, timeout=timeout, user=user)

    def run_probe(self, *, image: str, network: str, argv: list[str], timeout: float) -> ExecResult:
        """Run a short-lived, locked-down helper container on a job network; its exit and output."""
        container = self.create_container(
            service="probe",
            image=image,
            name=self.name(f"probe-{int(time.monotonic() * 1000) % 100000}"),
            command=argv,
            entrypoint=[],
            user="65534:65534",
            network=network,
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=64 * 2**20,
            memswap_limit=64 * 2**20,
            nano_cpus=min(self.limits.nano_cpus, 500_000_000),
            pids_limit=32,
        )
        try:
            with engine_call("starting the probe container"):
                container.start()
            try:
                status = container.wait(timeout=timeout)
                exit_code: int | None = status.get("StatusCode")
                timed_out = False
            except (
                TimeoutError,
                requests.exceptions.ReadTimeout,
                requests.exceptions.ConnectionError,
            ):
                exit_code, timed_out = None, True
            with engine_call("reading probe output"):
                output = container.logs(stdout=True, stderr=True, tail=200).decode(
                    "utf-8", "replace"
                )
            return ExecResult(exit_code=exit_code, output=output, timed_out=timed_out)
        finally:
            self._remove_container(container.id)

    def kill_containers(self) -> None:
        """SIGKILL every container of this job now; they stay for inspection until teardown."""
        label = {"label": f"{LABEL_JOB}={self.job_id}"}
        with contextlib.suppress(*ENGINE_ERRORS):
            for container in self.client.api.containers(filters=label):
                with contextlib.suppress(*ENGINE_ERRORS):
                    self.client.api.kill(container["Id"])

    # teardown ----------------------------------------------------------------------
    def teardown(self) -> None:
        """Kill and remove everything of this job; errors are logged (the janitor is the backstop)."""
        started = time.monotonic()
        label = f"{LABEL_JOB}={self.job_id}"
        try:
            found = [
                c["Id"] for c in self.client.api.containers(all=True, filters={"label": label})
            ]
        except ENGINE_ERRORS as error:
            found = []
            self.teardown_errors.append(f"listing containers: {one_line(error)}")
        containers = list(dict.fromkeys(self.owned.containers + found))
        for container_id in containers:  # kill everything first: SIGKILL is immediate
            with contextlib.suppress(*ENGINE_ERRORS):
                self.client.api.kill(container_id)
        for container_id in containers:
            self._remove_container(container_id)
        self._remove_all("networks", label, self.owned.networks)
        self._remove_all("volumes", label, self.owned.volumes)
        self._remove_all("images", label, self.owned.images)
        self.teardown_ms = int((time.monotonic() - started) * 1000)
        for error in self.teardown_errors:
            log.warning("teardown of job %s: %s", self.job_id, error)

    def _remove_container(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except ENGINE_ERRORS as error:
            if "already in progress" not in str(error):
                self.teardown_errors.append(f"container {container_id[:12]}: {one_line(error)}")

    def _remove_all(self, kind: str, label: str, owned: list[str]) -> None:
        api = self.client.api
        try:
            if kind == "networks":
                found = [n["Id"] for n in api.networks(filters={"label": label})]
            elif kind == "volumes":
                found = [
                    v["Name"] for v in (api.volumes(filters={"label": label}).get("Volumes") or [])
                ]
            else:
                found = [i["Id"] for i in api.images(all=True, filters={"label": label})]
        except ENGINE_ERRORS as error:
            found = []
            self.teardown_errors.append(f"listing {kind}: {one_line(error)}")
        pending = list(dict.fromkeys(owned + found))
        for _ in range(len(pending) + 1):  # images: a child must go before its parent
            failed: list[tuple[str, BaseException]] = []
            for ref in pending:
                try:
                    if kind == "networks":
                        api.remove_network(ref)
                    elif kind == "volumes":
                        api.remove_volume(ref, force=True)
                    else:
                        # noprune keeps the untagged parent layers: they are the build cache of
                        # the next job (`janitor` prunes them past its budget). Only the last
                        # steps of a build carry the job label (the builder appends one LABEL
                        # step per build label), so these images are this job's alone.
                        api.remove_image(ref, force=True, noprune=True)
                except docker.errors.NotFound:
                    pass
                except ENGINE_ERRORS as error:
                    failed.append((ref, error))
            if not failed or len(failed) == len(pending):
                break
            pending = [ref for ref, _ in failed]
        for ref, error in failed:
            self.teardown_errors.append(f"{kind[:-1]} {ref[:24]}: {one_line(error)}")


# --------------------------------------------------------------------------------------
# Canary scan
# --------------------------------------------------------------------------------------


class _StreamReader(io.RawIOBase):
    """A read()-able view of a docker-py byte-chunk generator (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.pending = b""
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        self.consumed += size
        return size


@dataclass
class CanaryScan:
    hits: list[str] = field(default_factory=list)
    scanned_bytes: int = 0
    truncated: bool = False


def scan_image_for_canaries(
    client: docker.DockerClient, image_id: str, canaries: list[str], *, max_bytes: int
) -> CanaryScan:
    """Search an image for canary secret values: its env, labels, history and every layer.

    Layers are read from `docker save`, not from a flattened export, so a secret that was
    copied and then deleted in a later layer ("RUN rm secret") is still found: it is still
    in the image anyone can pull. Hits name the place, never the value.
    """
    result = CanaryScan()
    needles = [c.encode() for c in dict.fromkeys(c.strip() for c in canaries) if c]
    if not needles:
        return result
    with engine_call("inspecting the built image"):
        attrs = client.api.inspect_image(image_id)
        history = client.api.history(image_id)
    config = attrs.get("Config") or {}
    for entry in config.get("Env") or []:
        if any(n in entry.encode() for n in needles):
            result.hits.append(f"env:{entry.split('=', 1)[0]}")
    for key, value in (config.get("Labels") or {}).items():
        if any(n in f"{key}={value}".encode() for n in needles):
            result.hits.append(f"label:{key}")
    for step in history:
        created_by = (step.get("CreatedBy") or "").encode()
        if any(n in created_by for n in needles):
            shown = created_by.decode("utf-8", "replace")
            for needle in needles:
                shown = shown.replace(needle.decode(), "***")
            result.hits.append("history:" + one_line(shown.replace("/bin/sh -c #(nop) ", ""), 80))
    overlap = max(len(n) for n in needles) - 1
    try:
        stream = io.BufferedReader(_StreamReader(client.api.get_image(image_id)), 1 << 20)
        with tarfile.open(fileobj=stream, mode="r|") as outer:
            for member in outer:
                layer = (
                    outer.extractfile(member)
                    if member.isfile() and member.name.endswith("layer.tar")
                    else None
                )
                if layer is not None and _scan_layer(layer, needles, overlap, result, max_bytes):
                    result.truncated = True
                    break
    except tarfile.TarError as error:
        raise InfrastructureError(
            f"engine: reading the saved image failed: {one_line(error)}"
        ) from error
    except ENGINE_ERRORS as error:
        raise InfrastructureError(
            f"engine: saving the image for the canary scan failed: {one_line(error)}"
        ) from error
    return result


def _scan_layer(
    layer: Any, needles: list[bytes], overlap: int, result: CanaryScan, max_bytes: int
) -> bool:
    """Search every regular file of one layer tar; True when the byte budget ran out."""
    with tarfile.open(fileobj=layer, mode="r|") as inner:
        for entry in inner:
            if not entry.isfile() or os.path.basename(entry.name).startswith(".wh."):
                continue
            handle = inner.extractfile(entry)
            if handle is None:
                continue
            hit = "file:/" + entry.name.removeprefix("./").lstrip("/")
            tail = b""
            while chunk := handle.read(1 << 20):
                result.scanned_bytes += len(chunk)
                window = tail + chunk
                if any(n in window for n in needles):
                    if hit not in result.hits:
                        result.hits.append(hit)
                    break
                tail = window[-overlap:] if overlap else b""
                if result.scanned_bytes >= max_bytes:
                    return True
    return False


# --------------------------------------------------------------------------------------
# Janitor
# --------------------------------------------------------------------------------------


def _epoch(value: Any) -> float:
    """Engine timestamps come as epoch ints or RFC 3339 strings with nanoseconds."""
    if isinstance(value, int | float):
        return float(value)
    if not value:
        return 0.0
    text = str(value).replace("Z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _protected_image(image: dict[str, Any]) -> bool:
    """Stand-in base images are never deleted (their children inherit the label, so it is the
    tagged stand-in itself that is protected, not everything carrying the label)."""
    labels = image.get("Labels") or {}
    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    return (
        labels.get(LABEL_STANDIN) == "1"
        and LABEL_JOB not in labels
        and LABEL_BASELINE not in labels
        and bool(tags)
    )


def janitor(
    client: docker.DockerClient | None = None,
    *,
    older_than_s: int = 0,
    cache_budget_bytes: int = 2 * 1024**3,
    job_id: str | None = None,
) -> dict[str, Any]:
    """Remove what crashed jobs left behind, then prune the build cache past its budget.

    Removes containers, networks, volumes and images labelled `org.drydock.job` that are older
    than `older_than_s` (0 = all of them: only safe when no job is running), stale build
    cgroups, superseded dev baselines (keeps the newest per starter), and, while the engine's
    layer storage exceeds `cache_budget_bytes` plus what stand-ins and baselines need, dangling
    images (the classic builder's cache) oldest first. Stand-in images are never deleted.
    With `job_id`, only that job's resources are removed (whatever their age) and the cache,
    baselines and cgroups are left alone. Returns counts of what was removed.
    """
    own_client = client is None
    client = client or connect()
    api = client.api
    cutoff = time.time() - older_than_s
    report: dict[str, Any] = {
        "containers": 0,
        "networks": 0,
        "volumes": 0,
        "images": 0,
        "baselines": 0,
        "cache_images": 0,
        "cgroups": 0,
        "scratch": 0,
        "reclaimed_bytes": 0,
        "errors": [],
    }
    label = f"{LABEL_JOB}={job_id}" if job_id else LABEL_JOB
    if job_id:
        cutoff = float("inf")
    try:
        with engine_call("janitor: listing containers"):
            containers = api.containers(all=True, filters={"label": label})
        for container in containers:
            if _epoch(container.get("Created")) <= cutoff:
                _janitor_remove(
                    report,
                    "containers",
                    lambda c=container: api.remove_container(c["Id"], force=True, v=True),
                )
        with engine_call("janitor: listing networks"):
            networks = api.networks(filters={"label": label})
        for network in networks:
            if _epoch(network.get("Created")) <= cutoff:
                _janitor_remove(report, "networks", lambda n=network: api.remove_network(n["Id"]))
        with engine_call("janitor: listing volumes"):
            volumes = api.volumes(filters={"label": label}).get("Volumes") or []
        for volume in volumes:
            if _epoch(volume.get("CreatedAt")) <= cutoff:
                _janitor_remove(
                    report, "volumes", lambda v=volume: api.remove_volume(v["Name"], force=True)
                )
        with engine_call("janitor: listing images"):
            images = api.images(all=True, filters={"label": label})
        _janitor_images(
            report,
            api,
            [
                i["Id"]
                for i in images
                if _epoch(i.get("Created")) <= cutoff and not _protected_image(i)
            ],
        )
        if job_id is None:
            _janitor_baselines(client, report)
            _janitor_cache(client, report, cache_budget_bytes)
            report["cgroups"] = _janitor_cgroups(client, cutoff)
            report["scratch"] = _janitor_scratch(older_than_s)
    finally:
        if own_client:
            client.close()
    return report


def _janitor_images(report: dict[str, Any], api: Any, pending: list[str]) -> None:
    """Remove a job's images, children before parents: a build labels its last steps (one
    LABEL step per label), so one job has several labelled images, each the parent of the
    next, and a parent cannot go while its child is there. Pass after pass, while some go."""
    while pending:
        failed: list[tuple[str, BaseException]] = []
        for image_id in pending:
            try:
                api.remove_image(image_id, force=True, noprune=True)
                report["images"] += 1
            except docker.errors.NotFound:
                pass
            except ENGINE_ERRORS as error:
                failed.append((image_id, error))
        if len(failed) == len(pending):
            report["errors"] += [f"images: {one_line(error)}" for _, error in failed]
            return
        pending = [image_id for image_id, _ in failed]


def _janitor_remove(report: dict[str, Any], kind: str, remove: Any) -> None:
    try:
        remove()
        report[kind] += 1
    except docker.errors.NotFound:
        pass
    except ENGINE_ERRORS as error:
        report["errors"].append(f"{kind}: {one_line(error)}")


def _janitor_baselines(client: docker.DockerClient, report: dict[str, Any]) -> None:
    with engine_call("janitor: listing baselines"):
        images = client.api.images(filters={"label": LABEL_BASELINE})
    newest: dict[str, dict[str, Any]] = {}
    for image in sorted(images, key=lambda i: i.get("Created", 0), reverse=True):
        name = (image.get("Labels") or {}).get(LABEL_BASELINE, "")
        if name not in newest:
            newest[name] = image
            continue
        _janitor_remove(
            report, "baselines", lambda i=image: client.api.remove_image(i["Id"], force=True)
        )


def _janitor_cache(client: docker.DockerClient, report: dict[str, Any], budget: int) -> None:
    """The classic builder's cache is the untagged images; drop the oldest dangling ones (and
    with them their untagged parents) while the cache is above `budget` bytes."""
    try:
        pinned = _tagged_layer_bytes(client)
        used = _layers_size(client)
    except ENGINE_ERRORS as error:  # e.g. another janitor's `docker system df` is running
        report["errors"].append(f"cache: measuring skipped this run: {one_line(error)}")
        return
    report["cache_bytes_before"] = max(0, used - pinned)
    if used - pinned <= budget:
        return
    with engine_call("janitor: listing dangling images"):
        dangling = client.api.images(filters={"dangling": True})
    for image in sorted(dangling, key=lambda i: i.get("Created", 0)):
        if _protected_image(image):
            continue
        try:
            client.api.remove_image(image["Id"])  # prunes its untagged parents too
            report["cache_images"] += 1
        except docker.errors.APIError as error:  # in use by a container or a running build
            if error.status_code != 409:
                report["errors"].append(f"cache image: {one_line(error)}")
            continue
        try:
            now = _layers_size(client)
        except ENGINE_ERRORS as error:
            report["errors"].append(f"cache: measuring stopped this run: {one_line(error)}")
            break
        report["reclaimed_bytes"] += max(0, used - now)
        used = now
        if used - pinned <= budget:
            break
    with contextlib.suppress(*ENGINE_ERRORS):  # BuildKit's cache, should anything have used it
        report["reclaimed_bytes"] += int(
            client.api.prune_builds(keep_storage=budget).get("SpaceReclaimed") or 0
        )


def _layers_size(client: docker.DockerClient) -> int:
    """`docker system df`'s layer bytes. The engine runs one df at a time and refuses a second
    ("a disk usage operation is already running"): two janitors at once, or a janitor beside
    an operator's `docker system df`, would otherwise crash one of them."""
    return int(client.df().get("LayersSize") or 0)


def _tagged_layer_bytes(client: docker.DockerClient) -> int:
    """Bytes of the layers that tagged images need (what is not cache).

    The API has no per-layer sizes or ids, but `history` gives each step's size; a step is
    identified by its whole ancestry (created-by and creation time of it and every step
    below), so layers shared by several images are counted once.
    """
    seen: set[str] = set()
    total = 0
    for image in client.api.images():
        if not [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]:
            continue
        ancestry = hashlib.sha256()
        for step in reversed(client.api.history(image["Id"])):
            ancestry.update(
                f"{step.get('Created')}|{step.get('CreatedBy')}|{step.get('Size')}\n".encode()
            )
            key = ancestry.hexdigest()
            if key not in seen:
                seen.add(key)
                total += int(step.get("Size") or 0)
    return total


def _janitor_cgroups(client: docker.DockerClient, cutoff: float) -> int:
    """Empty build cgroups left by crashed workers (a busy one refuses rmdir, so it stays).

    A running build's cgroup is empty between two RUN steps too, and removing it would let
    the build's next steps run without its pids limit; so whatever `cutoff` says, a cgroup
    younger than BUILD_CGROUP_MIN_AGE_S (longer than any build may last) is left alone.
    """
    if not is_local_engine(client) or not CGROUP_ROOT.is_dir():
        return 0
    cutoff = min(cutoff, time.time() - BUILD_CGROUP_MIN_AGE_S)
    removed = 0
    pattern = f"{BUILD_CGROUP_PREFIX}*" if cgroup_version() == 2 else f"*/{BUILD_CGROUP_PREFIX}*"
    for directory in CGROUP_ROOT.glob(pattern):
        with contextlib.suppress(OSError):
            if directory.stat().st_mtime <= cutoff:
                directory.rmdir()
                removed += 1
    return removed


def _janitor_scratch(older_than_s: int) -> int:
    """The grader's scratch directories of jobs that died with their worker (SIGKILL, OOM,
    a lost machine): nothing else would ever remove them."""
    from .grader import scratch_sweep  # the grader owns the scratch root; imported late

    return scratch_sweep(older_than_s=older_than_s)
