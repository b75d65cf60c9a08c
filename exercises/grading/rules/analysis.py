"""What the rules look at (`Analysis`), how a rule records its verdict, and the
learner-facing texts every rule shares (hints, summaries of a passed check)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dockerfile import Dockerfile, FinalImage, Finding
from ..files import Submission
from ..types import CheckResult

HINTS = {
    "minimal-base-image": (
        "Build the final stage FROM a small base such as node:22-alpine, a -slim tag or a "
        "distroless image; keep compilers and dev dependencies in an earlier build stage."
    ),
    "non-root-user": (
        "Create an unprivileged user in the final stage (e.g. adduser -u 1001) and switch to "
        "it with USER before CMD; don't override it with `user: root` in the compose file."
    ),
    "security-practices": (
        "Keep secrets out of the Dockerfile and the compose file (use secrets: or *_FILE "
        "variables), pin every image to a version, and don't publish the database port."
    ),
    "resource-limits": (
        "Give every service a memory and a CPU limit, e.g. deploy.resources.limits "
        "{cpus: '0.5', memory: 512M}."
    ),
    "health-checks": (
        "Add a HEALTHCHECK (or compose healthcheck) that calls the app's /health endpoint, give "
        "the database one (pg_isready), and make the app depend on the database with "
        "condition: service_healthy."
    ),
    "environment-config": (
        "Set NODE_ENV=production, drop DEBUG, the source bind mount and the node_modules volume, "
        "run the built app (node dist/server.js) and take credentials from ${VARIABLES}, an "
        "env_file or secrets."
    ),
    "tagging-strategy": (
        "Give the app an image: with a meaningful version tag such as "
        "${REGISTRY_URL}/myapp:${VERSION}-${BUILD_NUMBER}, and pin the database image "
        "(e.g. postgres:17-alpine)."
    ),
}
SUMMARIES_PASSED = {
    "minimal-base-image": "The final image is built on a minimal base image.",
    "non-root-user": "The application runs as a non-root user.",
    "security-practices": "No secrets, unpinned images or exposed database found.",
    "resource-limits": "Every service has a memory and a CPU limit.",
    "health-checks": "The app and the database are health-checked, and the app waits for the database.",
    "environment-config": "The configuration is production's, with credentials kept out of the files.",
    "tagging-strategy": "The app image has a meaningful version tag and the database image is pinned.",
}
NO_APP = (
    "No application service found in the compose file (a service with build: or your own image)."
)
NO_DB = "No database service found (a postgres, mysql, mariadb or mongo image)."


@dataclass
class Analysis:
    """Everything the static rules look at, gathered once by the grader."""

    submission: Submission
    dockerfile: Dockerfile
    dockerfile_name: str  # the Dockerfile that is built (relative to the workdir)
    final: FinalImage
    build_args: dict[str, str]
    raw_services: dict[str, dict[str, Any]]  # the learner's YAML, not interpolated
    config: dict[str, Any]  # Compose's normalised project, before sandbox normalisation
    app: str | None
    db: str | None
    workdir: Path
    findings: list[Finding] = field(default_factory=list)
    hadolint_problem: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)  # (check id, "sandbox: ...")

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        return self.config.get("services") or {}

    def service(self, name: str | None) -> dict[str, Any]:
        return self.services.get(name) or {} if name else {}

    def raw(self, name: str | None) -> dict[str, Any]:
        return self.raw_services.get(name) or {} if name else {}


@dataclass
class Verdict:
    """Failures and supporting evidence collected by one rule."""

    failures: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def fail(self, line: str) -> None:
        self.failures.append(line)
        self.evidence.append(f"✗ {line}")

    def ok(self, line: str) -> None:
        self.evidence.append(f"✓ {line}")

    def note(self, line: str) -> None:
        self.evidence.append(line)

    def result(self, check_id: str) -> CheckResult:
        passed = not self.failures
        summary = SUMMARIES_PASSED[check_id] if passed else self.failures[0]
        return CheckResult(check_id, passed, summary, self.evidence, HINTS[check_id])
