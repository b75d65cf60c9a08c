"""The job spec handed to the sandbox: files as bytes and paths relative to the project.

The grader prepares a scratch directory for Docker Compose (`docker-compose config` needs
real files to read), but nothing from it may reach the engine as a host path: the engine may
be on another machine, and a host path in a learner's container is a way out of the sandbox.
`project_files` reads that directory once (never following a symlink), and `relative_config`
rewrites the absolute paths Compose put in the normalised services (build contexts, bind
sources, secret files) into project-relative ones. What the sandbox then receives is pure
data: it can be pickled, sent to a remote worker, or built from a request's bytes.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from .types import GradingError, ProjectFile, SandboxPlan

MAX_PROJECT_FILES = 4096
MAX_PROJECT_BYTES = 64 * 1024**2
TOO_BIG = "the project is too large to grade ({what}); remove generated files"
OUTSIDE = "outside"  # marker for a path outside the project


def project_files(root: Path, *, exclude: tuple[str, ...] = ()) -> dict[str, ProjectFile]:
    """Every regular file under `root` as bytes with its permission bits. Symlinks and other
    special files are skipped; no path is ever followed out of the tree."""
    found: dict[str, ProjectFile] = {}
    total = 0
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        stack: list[tuple[int, str]] = [(root_fd, "")]
        while stack:
            dir_fd, prefix = stack.pop()
            try:
                for entry in sorted(os.listdir(dir_fd)):
                    relative = f"{prefix}{entry}"
                    if entry in exclude and not prefix:
                        continue
                    info = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode):
                        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                        stack.append((os.open(entry, flags, dir_fd=dir_fd), relative + "/"))
                    elif stat.S_ISREG(info.st_mode):
                        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
                        with os.fdopen(fd, "rb") as handle:
                            content = handle.read(MAX_PROJECT_BYTES + 1)
                        total += len(content)
                        if total > MAX_PROJECT_BYTES or len(found) >= MAX_PROJECT_FILES:
                            raise GradingError(TOO_BIG.format(what=f"{len(found)} files"))
                        found[relative] = ProjectFile(content, stat.S_IMODE(info.st_mode))
            finally:
                if dir_fd != root_fd:
                    os.close(dir_fd)
    finally:
        os.close(root_fd)
    return found


def relative_path(path: Any, root: Path) -> str:
    """`path` (absolute, as Compose writes it) relative to the project root, "" for the root
    itself, or OUTSIDE."""
    if not isinstance(path, str) or not path:
        return OUTSIDE
    candidate = PurePosixPath(os.path.normpath(path))
    base = PurePosixPath(os.path.normpath(str(root)))
    if candidate == base:
        return ""
    try:
        return candidate.relative_to(base).as_posix()
    except ValueError:
        return OUTSIDE


def relative_config(
    services: Mapping[str, dict[str, Any]], volumes: Mapping[str, dict[str, Any]], root: Path
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Services and volumes with every host path made project-relative (or OUTSIDE)."""
    new_services: dict[str, dict[str, Any]] = {}
    for name, service in services.items():
        service = dict(service)
        build = service.get("build")
        if isinstance(build, dict):
            service["build"] = {**build, "context": relative_path(build.get("context"), root)}
        mounts = []
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict) and volume.get("type") == "bind":
                volume = {**volume, "source": relative_path(volume.get("source"), root)}
            mounts.append(volume)
        if mounts:
            service["volumes"] = mounts
        new_services[name] = service
    new_volumes: dict[str, dict[str, Any]] = {}
    for name, spec in volumes.items():
        spec = dict(spec or {})
        options = dict(spec.get("driver_opts") or {})
        if "device" in options:
            options["device"] = relative_path(options["device"], root)
            spec["driver_opts"] = options
        new_volumes[name] = spec
    return new_services, new_volumes


def secret_bytes(
    secrets: Mapping[str, Path], root: Path, files: Mapping[str, ProjectFile]
) -> dict[str, bytes]:
    """The secrets' contents, read from the project's files (never from the host)."""
    found: dict[str, bytes] = {}
    for name, path in secrets.items():
        relative = relative_path(str(path if path.is_absolute() else root / path), root)
        if relative in files:
            found[name] = files[relative].content
    return found


def job_spec(
    workdir: Path,
    *,
    job_id: str,
    dockerfile: str,
    app_service: str,
    db_service: str | None,
    app_image_tag: str,
    services: Mapping[str, dict[str, Any]],
    volumes: Mapping[str, dict[str, Any]],
    networks: Mapping[str, dict[str, Any]],
    secrets: Mapping[str, Path],
    canaries: list[str],
    supplied: Mapping[str, str],
    secret_values: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The plan without its files, as JSON: what the static pass hands to the runtime pass.

    Every path is project-relative, secrets are named by their project file, and `supplied`
    holds the grader's own files (secret files with canary values) and `secret_values` the
    values of external secrets (by name, never files), so the plan can be rebuilt
    on another machine from the learner's bytes and the starter (`plan_from_spec`).
    """
    relative_services, relative_volumes = relative_config(services, volumes, workdir)
    return {
        "job_id": job_id, "dockerfile": dockerfile, "app_service": app_service,
        "db_service": db_service, "app_image_tag": app_image_tag,
        "services": relative_services, "volumes": relative_volumes, "networks": dict(networks),
        "secrets": {
            name: relative_path(str(path if path.is_absolute() else workdir / path), workdir)
            for name, path in secrets.items()
        },
        "secret_values": dict(secret_values or {}),
        "canaries": list(canaries), "supplied": dict(supplied),
    }  # fmt: skip


def sandbox_plan(workdir: Path, *, dev_dir: Path | None, **spec: Any) -> SandboxPlan:
    """The plan of a project prepared in `workdir` (read once, as bytes); `spec` takes
    `job_spec`'s keywords, without `supplied`."""
    planned = job_spec(workdir, supplied={}, **spec)
    return plan_from_spec(planned, files=project_files(workdir), dev_dir=dev_dir)


def plan_from_spec(
    spec: Mapping[str, Any],
    *,
    files: dict[str, ProjectFile],
    dev_dir: Path | None,
    job_id: str | None = None,
) -> SandboxPlan:
    """The job spec of `spec` over the project `files` (read from a workdir, or overlaid in
    memory by `project_overlay`). With `job_id`, the plan is rebound to that job: the spec's
    own id (12 random hex digits, so it appears nowhere else) is replaced in every name."""
    if job_id and job_id != spec["job_id"]:
        spec = json.loads(json.dumps(spec).replace(spec["job_id"], job_id))
    secrets = {n: files[p].content for n, p in spec["secrets"].items() if p in files}
    secrets.update((n, v.encode()) for n, v in spec.get("secret_values", {}).items())
    return SandboxPlan(
        job_id=spec["job_id"], files=files, dockerfile=spec["dockerfile"],
        app_service=spec["app_service"], db_service=spec["db_service"],
        app_image_tag=spec["app_image_tag"], services=spec["services"], volumes=spec["volumes"],
        networks=spec["networks"], secrets=secrets, canaries=list(spec["canaries"]),
        dev_files=project_files(dev_dir, exclude=("node_modules", ".git")) if dev_dir else None,
        dev_name=(dev_dir.name if dev_dir else "starter"),
    )  # fmt: skip


def project_overlay(
    starter: Path,
    learner: Mapping[str, bytes],
    *,
    executables: frozenset[str],
    supplied: Mapping[str, str],
    skipped: tuple[str, ...],
) -> dict[str, ProjectFile]:
    """The project in memory, as the grader's workdir holds it: the starter (without the
    names in `skipped`, at any depth), overlaid with the learner's files and the grader's."""
    found: dict[str, ProjectFile] = {}
    if starter.is_dir():
        for name, file in project_files(starter, exclude=skipped).items():
            if not set(name.split("/")) & set(skipped):
                found[name] = file
    for name, content in learner.items():
        found[name] = ProjectFile(content, 0o755 if name in executables else 0o644)
    for name, text in supplied.items():
        found[name] = ProjectFile(text.encode("utf-8"), 0o644)
    return found
