"""Typed outcomes of engine calls, and the one place engine exceptions are mapped to them.

Like Read the Docs' `BuildUserError` / `BuildAppError`: what the engine refuses because of
the learner's files is a `SandboxUserError` (a `GradingError`: an `error` about their file,
counted as an attempt); the engine being unavailable, a timeout of Drydock's own call or an
engine fault (5xx) is an `InfrastructureError` (retried, never counted). `engine_error` is the
only function that decides which; where the engine only answers with text (a container that
cannot start), the sniffing happens there too.
"""

from __future__ import annotations

import enum
import socket

import docker.errors
import requests.exceptions

from ..types import GradingError, InfrastructureError

# Errors the engine raises that are "the engine is in trouble", never the learner's fault.
ENGINE_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    ConnectionError,
    socket.timeout,
)
# Errors from `docker start` that come from the container's own configuration (the engine
# gives only text for them, with a status that varies between versions).
LEARNER_START_ERRORS = (
    "unable to find user",
    "no matching entries in passwd",
    "executable file not found",
    "no such file or directory",
    "permission denied",
    "not a directory",
    "is a directory",
    "starting container process",
    "oci runtime",
    "invalid",
    "exec format error",
)
# Messages: the learner's (SandboxUserError) and Drydock's own (InfrastructureError, logged).
ENGINE_REFUSED = "the engine refused {what}: {detail}"
ENGINE_FAILED = "engine: {what} failed: {detail}"
ENGINE_UNREACHABLE = "engine unreachable: {detail}"


class EngineUnavailable(InfrastructureError):
    """The engine named by the environment does not answer."""


class SandboxUserError(GradingError):
    """The engine refused a request built from the learner's files (a 4xx: a bad reference
    format, an invalid option...). `detail` is the engine's one-line answer."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


class ContainerRejected(SandboxUserError):
    """The engine refused a container's configuration (400): the learner's compose file."""


class StartRefused(SandboxUserError):
    """A learner's container could not start because of its own configuration."""


class Origin(enum.Enum):
    """Whose input an engine request carries, which decides who a refusal is blamed on."""

    DRYDOCK = "drydock"  # Drydock's own resources: every failure is infrastructure
    LEARNER_CONFIG = "config"  # carries the learner's configuration: a 400 is theirs
    LEARNER_BUILD = "build"  # a /build of the learner's Dockerfile: any 4xx is theirs
    LEARNER_START = "start"  # starting a learner's container: judged by the engine's text


def removal_in_progress(error: BaseException) -> bool:
    """The engine is already removing it (a teardown and the janitor met): not a failure."""
    return "already in progress" in str(error)


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """An exception or message squeezed onto one line (learner- and log-friendly)."""
    text = error if isinstance(error, str) else (getattr(error, "explanation", None) or str(error))
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def engine_error(
    error: BaseException, what: str, origin: Origin = Origin.DRYDOCK
) -> SandboxUserError | InfrastructureError:
    """The typed error for an engine/transport failure of the call described by `what`."""
    if isinstance(error, InfrastructureError | SandboxUserError):
        return error
    detail = one_line(error)
    if isinstance(error, docker.errors.APIError):
        status = error.status_code or 0
        if (origin is Origin.LEARNER_CONFIG and status == 400) or (
            origin is Origin.LEARNER_BUILD and 400 <= status < 500
        ):
            return SandboxUserError(ENGINE_REFUSED.format(what=what, detail=detail), detail)
        # `docker start` answers a bad entrypoint or user with text only (its status varies).
        if origin is Origin.LEARNER_START and any(
            marker in detail.lower() for marker in LEARNER_START_ERRORS
        ):
            return StartRefused(detail)
    return InfrastructureError(ENGINE_FAILED.format(what=what, detail=detail))


def is_learner_error(error: BaseException, origin: Origin) -> bool:
    """Whether `engine_error` would blame the learner for this failure."""
    return isinstance(engine_error(error, "", origin), SandboxUserError)
