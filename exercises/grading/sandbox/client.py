"""The engine client and the small helpers every other module of the sandbox uses.

The engine is the dedicated grading engine (`scripts/grading-engine`), named by an
`EngineAddress`: its unix socket, or `tcp://host:2376` with TLS client certificates, so a
worker may grade on a remote engine (the job spec carries no host paths). Callers pass the
address (Django from its settings); without one, `DRYDOCK_GRADING_ENGINE` and
`DRYDOCK_GRADING_ENGINE_CERT_PATH` name it, never `DOCKER_HOST`, which names the machine's
general-purpose engine. `connect` refuses an engine without user-namespace remapping: a
learner's container must never run as the host's root.
Nothing is ever pulled: images are only looked up locally (`local_image`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import weakref
from collections import deque
from collections.abc import Iterator
from typing import Any

import docker
import docker.errors

from ..types import DEFAULT_GRADING_ENGINE, EngineAddress
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


NOT_ISOLATED = (
    "{url} is not a grading engine: it does not remap user namespaces (start the grading "
    "engine with scripts/grading-engine; learners' containers never run on a general-purpose engine)"
)


_ADDRESSES: weakref.WeakKeyDictionary[docker.DockerClient, EngineAddress] = (
    weakref.WeakKeyDictionary()
)


_ROOTS: weakref.WeakKeyDictionary[docker.DockerClient, tuple[int, int]] = (
    weakref.WeakKeyDictionary()
)


def default_address() -> EngineAddress:
    """The grading engine named by the environment (the CLI, tests and tools)."""
    return EngineAddress(
        url=os.environ.get("DRYDOCK_GRADING_ENGINE") or DEFAULT_GRADING_ENGINE,
        cert_path=os.environ.get("DRYDOCK_GRADING_ENGINE_CERT_PATH", ""),
    )


class EngineAPIClient(docker.APIClient):
    """docker-py's client, minus the environment: requests would let REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE replace the grading engine's CA (and proxy variables reroute it). The
    engine is verified against its own CA only, never proxied — from the first request on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # with version="auto", this already made a request
        self.trust_env = False

    def _retrieve_server_version(self) -> str:
        self.trust_env = False
        return super()._retrieve_server_version()


def tls_config(address: EngineAddress) -> docker.tls.TLSConfig | None:
    if not address.cert_path:
        return None
    path = address.cert_path
    return docker.tls.TLSConfig(
        client_cert=(os.path.join(path, "cert.pem"), os.path.join(path, "key.pem")),
        ca_cert=os.path.join(path, "ca.pem"),
        verify=True,
    )


def connect(
    address: EngineAddress | None = None, *, timeout: int = CLIENT_TIMEOUT_S
) -> docker.DockerClient:
    """A client for the grading engine; `EngineUnavailable` if it is unreachable, or is not
    isolated (no user-namespace remapping)."""
    address = address or default_address()
    try:
        client = docker.DockerClient.__new__(docker.DockerClient)
        client.api = EngineAPIClient(
            base_url=address.url, version="auto", timeout=timeout, tls=tls_config(address)
        )
        security = client.info().get("SecurityOptions") or []
    except ENGINE_ERRORS as error:
        raise EngineUnavailable(ENGINE_UNREACHABLE.format(detail=one_line(error))) from error
    if not any("name=userns" in option for option in security):
        client.close()
        raise EngineUnavailable(NOT_ISOLATED.format(url=address.url))
    _ADDRESSES[client] = address
    return client


def address_of(client: docker.DockerClient) -> EngineAddress:
    """The address `client` was connected to (for the extra API clients a build opens)."""
    return _ADDRESSES.get(client) or default_address()


def engine_status(address: EngineAddress | None = None, *, timeout: int = 5) -> str:
    """Return "engine <version>" for the grading engine; `EngineUnavailable` if down."""
    client = connect(address, timeout=timeout)
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


def standin_image(client: docker.DockerClient, ref: str) -> dict[str, Any] | None:
    """The attrs of `ref` if it is one of the sandbox's stand-in base images (labelled
    `org.drydock.standin=1` by docker/standins/build), else None: another job's image, a
    baseline or anything else on the engine is never handed to a learner. Labels are
    inherited, so an image built FROM a stand-in carries that label too: every image Drydock
    builds is labelled by the build itself, after the learner's own instructions (a job's
    `org.drydock.job`, a baseline `org.drydock.baseline`), and those are never stand-ins."""
    attrs = local_image(client, ref)
    labels = ((attrs or {}).get("Config") or {}).get("Labels") or {}
    if labels.get(LABEL_STANDIN) != "1" or any(
        labels.get(key) for key in (LABEL_MANAGED, LABEL_JOB, LABEL_BASELINE)
    ):
        return None
    return attrs


def remapped_root(client: docker.DockerClient) -> tuple[int, int]:
    """The host uid and gid of root in the engine's containers (`--userns-remap`): the engine
    names its data root after them (`<data-root>/100000.100000`)."""
    if client not in _ROOTS:
        with engine_call("reading engine info"):
            root_dir = str(client.info().get("DockerRootDir") or "")
        found = re.search(r"/(\d+)\.(\d+)/?$", root_dir)
        _ROOTS[client] = (int(found[1]), int(found[2])) if found else (0, 0)
    return _ROOTS[client]


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
