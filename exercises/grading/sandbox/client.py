"""The engine client and the small helpers every other module of the sandbox uses.

The engine address comes from the environment (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`,
`DOCKER_CERT_PATH` through `docker.from_env()`), so a worker may use a remote engine.
Nothing is ever pulled: images are only looked up locally (`local_image`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors

from .errors import (
    ENGINE_ERRORS,
    ENGINE_UNREACHABLE,
    EngineUnavailable,
    Origin,
    engine_error,
    one_line,
)

log = logging.getLogger(__name__)

LABEL_JOB = "org.drydock.job"
LABEL_MANAGED = "org.drydock.managed"
LABEL_SERVICE = "org.drydock.service"
LABEL_BASELINE = "org.drydock.baseline"
LABEL_STANDIN = "org.drydock.standin"

CLIENT_TIMEOUT_S = 120  # per-request socket timeout; long streams enforce their own deadlines
LOG_MAX_SIZE = "1m"  # json-file rotation of sandbox containers
# The bridge driver's option that leaves the host without an address on a job network.
NETWORK_NO_HOST_ADDRESS = "com.docker.network.bridge.inhibit_ipv4"


@contextlib.contextmanager
def engine_call(what: str, origin: Origin = Origin.DRYDOCK) -> Iterator[None]:
    """Turn engine/transport failures inside the block into typed errors (`engine_error`)."""
    try:
        yield
    except ENGINE_ERRORS as error:
        raise engine_error(error, what, origin) from error


def connect(*, timeout: int = CLIENT_TIMEOUT_S) -> docker.DockerClient:
    """A client for the engine named by the environment; `EngineUnavailable` if unreachable."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except ENGINE_ERRORS as error:
        raise EngineUnavailable(ENGINE_UNREACHABLE.format(detail=one_line(error))) from error
    return client


def engine_status(*, timeout: int = 5) -> str:
    """Return "engine <version>" for the engine the environment names; `EngineUnavailable` if down."""
    client = connect(timeout=timeout)
    try:
        with engine_call("reading the engine version"):
            return f"engine {client.version().get('Version', '?')}"
    finally:
        client.close()


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
        raise engine_error(error, f"inspecting image {ref}") from error
    except ENGINE_ERRORS as error:
        raise engine_error(error, f"inspecting image {ref}") from error


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
