"""Result types of the grader. Their JSON form is a public contract (see `GradeResult.to_json`)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

CHECK_IDS: tuple[str, ...] = (
    "minimal-base-image",
    "non-root-user",
    "security-practices",
    "resource-limits",
    "health-checks",
    "environment-config",
    "tagging-strategy",
)


class Status(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    REJECTED = "rejected"
    ERROR = "error"


class Stage(enum.StrEnum):
    """Progress stages reported while grading (the submission lifecycle mirrors them)."""

    CHECKING = "checking"
    BUILDING = "building"
    RUNNING = "running"
    PROBING = "probing"


class GradingError(Exception):
    """The learner's files cannot be graded (missing file, bad YAML, too large...).

    The message is one clear line shown to the learner as `error`.
    """


class InfrastructureError(Exception):
    """Drydock's own fault (engine unreachable, engine error, infrastructure timeout).

    Never counts as one of the learner's attempts; a task may retry it.
    """


@dataclass
class CheckResult:
    id: str
    passed: bool
    summary: str
    evidence: list[str] = field(default_factory=list)
    hint: str = ""


@dataclass
class Extension:
    id: str
    title: str
    present: bool
    evidence: list[str] = field(default_factory=list)


@dataclass
class PolicyViolation:
    rule: str
    detail: str


@dataclass
class Timings:
    static_ms: int = 0
    build_ms: int = 0
    run_ms: int = 0
    total_ms: int = 0


@dataclass
class GradeResult:
    exercise: str
    status: Status
    mode: str  # "static" | "full"
    checks: list[CheckResult] = field(default_factory=list)
    extensions: list[Extension] = field(default_factory=list)
    policy: list[PolicyViolation] = field(default_factory=list)
    error: str | None = None
    timings: Timings = field(default_factory=Timings)
    log: str = ""  # capped build/run log; not part of the JSON contract
    internal: bool = False  # an unexpected bug of Drydock's (not in the JSON): never an attempt

    @property
    def score(self) -> int:
        if not self.checks:
            return 0
        return round(100 * sum(c.passed for c in self.checks) / len(CHECK_IDS))

    def to_json(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise,
            "status": self.status.value,
            "score": self.score,
            "mode": self.mode,
            "checks": [asdict(c) for c in self.checks],
            "extensions": [asdict(e) for e in self.extensions],
            "policy": [asdict(p) for p in self.policy],
            "error": self.error,
            "timings": asdict(self.timings),
        }


# Called by the grader as work progresses: (stage, one-line message, optional log chunk).
ProgressCallback = Callable[[Stage, str, str], None]


def no_progress(stage: Stage, message: str, log: str = "") -> None:
    """Default progress callback: ignore."""


@dataclass
class SandboxLimits:
    """Hard ceilings for everything a submission does on the engine.

    Per container (a learner's higher limits are clamped) and per job: the sum over all the
    job's containers of memory, CPU and pids never exceeds the job ceilings (each service's
    share is scaled down when it would), and every volume and tmpfs is a size- and
    inode-capped tmpfs charged to the memory of the container that writes it.
    """

    build_timeout_s: int = 180
    run_timeout_s: int = 90
    memory_bytes: int = 1024**3  # per container / build; higher learner limits are clamped
    nano_cpus: int = 1_000_000_000  # 1 CPU per container
    pids: int = 256
    job_memory_bytes: int = 2 * 1024**3  # all containers of one job together
    job_nano_cpus: int = 2_000_000_000
    job_pids: int = 1024
    volume_bytes: int = 256 * 1024**2  # each volume / tmpfs of a job (tmpfs-backed)
    volume_inodes: int = 32_768
    log_bytes: int = 256 * 1024  # captured build/run log
    image_bytes: int = 1024**3  # maximum size of a built image
    disk_bytes: int = 2 * 1024**3  # what a build, or a running stack, may write to its layers
    build_network: bool = False  # builds run without network by default


@dataclass(frozen=True)
class ProjectFile:
    """One file of a job: its bytes and permission bits (an executable script stays one)."""

    content: bytes
    mode: int = 0o644
    uid: int | None = None  # for files the sandbox writes into volumes (secrets)
    gid: int | None = None


DEFAULT_GRADING_ENGINE = "unix:///run/drydock-grading/docker.sock"


@dataclass(frozen=True)
class EngineAddress:
    """Where the grading engine is: a unix socket, or `tcp://host:2376` with TLS client
    certificates (`ca.pem`, `cert.pem`, `key.pem` in `cert_path`)."""

    url: str = DEFAULT_GRADING_ENGINE
    cert_path: str = ""


@dataclass
class SandboxPlan:
    """The job spec: everything the sandbox needs to bring a submission up, as pure data.

    No host paths: the project travels as bytes (`files`, project-relative POSIX paths, the
    starter overlaid with the learner's files and the grader's supplied files), so a worker
    may grade on a remote engine and no container can ever be given a path of the worker's
    host. `services`, `volumes` and `networks` are in Docker Compose's normalised JSON form
    with the sandbox normalisation applied and every path made project-relative
    (`jobspec.relative_config`).
    """

    job_id: str  # unique per grading, [a-z0-9]; used in names and labels
    files: dict[str, ProjectFile]  # the project
    dockerfile: str  # the learner's Dockerfile; the build context is the whole project
    app_service: str
    db_service: str | None
    app_image_tag: str  # the resolved `image:` of the app service (or a generated one)
    services: dict[str, dict[str, Any]]
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, bytes] = field(default_factory=dict)  # name -> content
    canaries: list[str] = field(default_factory=list)  # secret values that must not be in the image
    dev_files: dict[str, ProjectFile] | None = None  # the starter, built as the size baseline
    dev_name: str = "starter"


@dataclass
class ServiceObservation:
    name: str
    started: bool = False
    image: str = ""  # the image reference the container ran
    exit_code: int | None = None  # set when the container stopped on its own
    uid: str | None = None  # output of `id -u` inside the running container
    memory_limit: int = 0  # HostConfig.Memory in bytes, 0 = unlimited
    nano_cpus: int = 0  # HostConfig.NanoCpus (or the quota-derived equivalent), 0 = unlimited
    healthcheck: list[str] | None = None  # the test that was probed, None = no healthcheck
    health_ok: bool | None = None
    health_output: str = ""
    # the health check run again with the database stopped: False = it failed, as it
    # must; True = it still passed (it cannot fail); None = not probed
    health_ok_db_down: bool | None = None
    oom_killed: bool = False
    logs_tail: str = ""


@dataclass
class RuntimeObservations:
    """What the sandbox saw; the checks turn it into runtime evidence."""

    build_ok: bool = False
    build_error: str | None = None  # a learner-visible reason (build failed, timed out, too large)
    run_error: str | None = None
    dev_image_size: int | None = None
    final_image_size: int | None = None
    final_image_tags: list[str] = field(default_factory=list)
    final_image_user: str = ""  # Config.User of the built image
    # Config.Labels of the built image; a stand-in base passes on org.drydock.standin.for
    final_image_labels: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceObservation] = field(default_factory=dict)
    http_health_status: int | None = None  # GET /health on the app from inside the sandbox network
    http_health_detail: str = ""
    canary_hits: list[str] = field(
        default_factory=list
    )  # where a canary was found: "env", "history", "file:/path"
    notes: list[str] = field(default_factory=list)  # "sandbox: ..." lines
    log: str = ""  # capped build + run log
    build_ms: int = 0
    run_ms: int = 0
    # where the time went, in ms: build, baseline, scan, health_<service>, http_probe, teardown...
    phase_ms: dict[str, int] = field(default_factory=dict)
