"""The sandbox policy: refuse what could reach the host or another job, before anything runs.

`raw_violations` judges the learner's YAML before Docker Compose ever reads it (Compose
happily accepts `privileged`, docker.sock and `/etc/shadow` secrets, and reads env_files
anywhere), after Drydock's own interpolation so that `${X:-/}` is judged by its value.
`normalised_violations` judges Compose's merged output again (extends, include and
interpolation all resolved), a second line of defence, and there also every image the
stack names and every Dockerfile it builds (`policy_images`). What the grader then supplies
(`sandbox_inputs`) and how a stack that passed is adapted (`normalise`) live beside it and
are re-exported here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .compose_views import as_list, is_external, mapping, truthy
from .normalise import (  # noqa: F401 (re-exported: the grader's imports)
    NOTE_CONFIG,
    NOTE_HOST,
    NOTE_LIMITS,
    NOTE_PORTS,
    Normalised,
    sandbox_normalise,
)
from .policy_images import image_violations
from .sandbox_inputs import SandboxInputs, canary, sandbox_inputs  # noqa: F401 (re-exported)
from .types import PolicyViolation

_HOST_NAMESPACES = ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup")
_REMOTE = re.compile(
    r"^([a-z][a-z0-9+.-]*://|git@|(github\.com|gitlab\.com|bitbucket\.org)/)", re.I
)
_WINDOWS_PATH = re.compile(r"^([a-zA-Z]:[\\/]|\\\\)")
MAX_SERVICES = 12
MAX_RESOURCES = 16  # volumes, networks, secrets, configs each

V_PRIVILEGED = "service {service} runs privileged"
V_NAMESPACE = "service {service} shares the host's namespace ({key}: {value})"
V_DEVICES = "service {service} asks for host devices ({key})"
V_SYSCTLS = "service {service} sets kernel parameters (sysctls)"
V_SECURITY_OPT = "service {service} weakens confinement (security_opt: {value})"
V_BIND = "service {service} mounts {source}, which is outside your submission"
V_VOLUMES_FROM = "service {service} mounts the volumes of another container ({value})"
V_NPIPE = "service {service} mounts a host named pipe"
V_EXTERNAL = (
    "{kind} {name} is external: it must exist before the stack starts, and the sandbox has "
    "none of yours and cannot make up its content (external networks, volumes and secrets are "
    "fine: the sandbox creates a stand-in for the job)"
)
V_PATH = "{what} {path} is outside your submission"
V_REMOTE = "{what} {path} is fetched from the network"
V_BUILD = "service {service} builds with {what}"
V_UNSUPPORTED = "{what} is not supported in the sandbox"
V_SOCKET = "service {service} asks for the Docker API socket (use_api_socket)"
V_TOO_MANY = "the sandbox runs at most {limit} {kind}; this file declares {count}"


# --- rejection --------------------------------------------------------------------------------


PathJudge = Callable[[str, str, str], "PolicyViolation | None"]  # (path, base, what)


def raw_violations(document: Mapping[str, Any], *, base: str) -> list[PolicyViolation]:
    """Violations in one learner compose file (already interpolated); `base` is its folder
    relative to the submission ("" for the top)."""
    return _violations(document, base=base, judge=_judge_relative)


def normalised_violations(config: Mapping[str, Any], *, workdir: Path) -> list[PolicyViolation]:
    """Violations in Compose's normalised output, whose paths are absolute."""
    root = str(workdir.resolve())

    def judge(path: str, base: str, what: str) -> PolicyViolation | None:
        if _REMOTE.match(path):
            return PolicyViolation("remote", V_REMOTE.format(what=what, path=path))
        full = posixpath.normpath(posixpath.join(base or root, path))
        if full != root and not full.startswith(root + "/"):
            return PolicyViolation("path", V_PATH.format(what=what, path=path))
        return None

    return [
        *_violations(config, base=root, judge=judge),
        *image_violations(config, workdir=workdir),
    ]


def referenced_files(document: Mapping[str, Any], *, base: str) -> list[str]:
    """Other compose files this one pulls in (include, extends), relative to the submission."""
    found: list[str] = []
    for entry in as_list(document.get("include")):
        paths = entry.get("path") if isinstance(entry, dict) else entry
        found += [str(p) for p in as_list(paths)]
    for service in mapping(document.get("services")).values():
        extends = service.get("extends") if isinstance(service, dict) else None
        if isinstance(extends, dict) and isinstance(extends.get("file"), str):
            found.append(extends["file"])
    return [posixpath.normpath(posixpath.join(base, p)) for p in found if not _outside(p, base)]


def _violations(
    document: Mapping[str, Any], *, base: str, judge: PathJudge
) -> list[PolicyViolation]:
    found: list[PolicyViolation] = []
    services = mapping(document.get("services"))
    if len(services) > MAX_SERVICES:
        detail = V_TOO_MANY.format(limit=MAX_SERVICES, kind="services", count=len(services))
        found.append(PolicyViolation("too-many", detail))
    for name, service in services.items():
        if isinstance(service, dict):
            found += _service_violations(str(name), service, base=base, judge=judge)
    for kind in ("volumes", "networks", "secrets", "configs"):
        declared = mapping(document.get(kind))
        if len(declared) > MAX_RESOURCES:
            detail = V_TOO_MANY.format(limit=MAX_RESOURCES, kind=kind, count=len(declared))
            found.append(PolicyViolation("too-many", detail))
        for name, spec in declared.items():
            if not isinstance(spec, dict):
                continue
            if (
                is_external(spec) and kind == "configs"
            ):  # the others get a stand-in (normalise, inputs)
                found.append(
                    PolicyViolation("external", V_EXTERNAL.format(kind=kind[:-1], name=name))
                )
            if kind in ("secrets", "configs") and isinstance(spec.get("file"), str):
                found += _path(judge, spec["file"], base, f"{kind[:-1]} file")
    for entry in as_list(document.get("include")):
        spec = entry if isinstance(entry, dict) else {"path": entry}
        for key in ("path", "env_file", "project_directory"):
            for path in as_list(spec.get(key)):
                found += _path(judge, str(path), base, f"include {key}")
    if document.get("models"):
        found.append(PolicyViolation("unsupported", V_UNSUPPORTED.format(what="models")))
    return found


def _service_violations(
    name: str, service: Mapping[str, Any], *, base: str, judge: PathJudge
) -> list[PolicyViolation]:
    found: list[PolicyViolation] = []

    def add(rule: str, template: str, **values: Any) -> None:
        found.append(PolicyViolation(rule, template.format(service=name, **values)))

    hooks = [h for key in ("post_start", "pre_stop") for h in as_list(service.get(key))]
    if truthy(service.get("privileged")) or any(
        isinstance(h, dict) and truthy(h.get("privileged")) for h in hooks
    ):
        add("privileged", V_PRIVILEGED)
    for key in _HOST_NAMESPACES:
        value = str(service.get(key) or "").strip().lower()
        if value == "host" or value.startswith("container:"):
            add("host-namespace", V_NAMESPACE, key=key, value=value)
    reservations = mapping(
        mapping(mapping(service.get("deploy")).get("resources")).get("reservations")
    )
    for key, value in (
        ("devices", service.get("devices")),
        ("device_cgroup_rules", service.get("device_cgroup_rules")),
        ("gpus", service.get("gpus")),
        ("deploy.resources.reservations.devices", reservations.get("devices")),
        ("blkio_config", _blkio_devices(service.get("blkio_config"))),
    ):
        if value:
            add("devices", V_DEVICES, key=key)
    if service.get("sysctls"):
        add("sysctls", V_SYSCTLS)
    for option in as_list(service.get("security_opt")):
        text = str(option).lower().replace("=", ":")
        if "unconfined" in text or text.replace(" ", "") == "label:disable":
            add("security-opt", V_SECURITY_OPT, value=option)
    if truthy(service.get("use_api_socket")):
        add("docker-socket", V_SOCKET)
    if service.get("provider"):
        add("unsupported", V_UNSUPPORTED, what=f"service {name}'s provider")
    found += _volume_violations(name, service, base=base, judge=judge)
    for key in ("env_file", "label_file"):
        for entry in as_list(service.get(key)):
            path = entry.get("path") if isinstance(entry, dict) else entry
            if isinstance(path, str):
                found += _path(judge, path, base, key)
    credential_spec = mapping(service.get("credential_spec"))
    if isinstance(credential_spec.get("file"), str):
        found += _path(judge, credential_spec["file"], base, "credential_spec file")
    found += _build_violations(name, service.get("build"), base=base, judge=judge)
    extends = service.get("extends")
    if isinstance(extends, dict) and isinstance(extends.get("file"), str):
        found += _path(judge, extends["file"], base, "extends file")
    return found


def _blkio_devices(config: Any) -> list[Any]:
    """Host block devices named in blkio_config (its weight alone touches no device)."""
    return [d for key, value in mapping(config).items() if key != "weight" for d in as_list(value)]


def _volume_violations(
    name: str, service: Mapping[str, Any], *, base: str, judge: PathJudge
) -> list[PolicyViolation]:
    found: list[PolicyViolation] = []
    for volume in as_list(service.get("volumes")):
        kind, source = mount_source(volume)
        if kind == "npipe":
            found.append(PolicyViolation("bind-mount", V_NPIPE.format(service=name)))
        elif kind == "bind" and source is not None:
            problem = judge(source, base, "bind mount")
            if problem:
                detail = V_BIND.format(service=name, source=source)
                found.append(PolicyViolation("bind-mount", detail))
    for value in as_list(service.get("volumes_from")):
        if str(value).startswith("container:"):
            found.append(
                PolicyViolation("volumes-from", V_VOLUMES_FROM.format(service=name, value=value))
            )
    return found


def mount_source(volume: Any) -> tuple[str, str | None]:
    """(type, source) of a service volume in short or long syntax."""
    if isinstance(volume, dict):
        source = volume.get("source")
        return str(volume.get("type") or "volume"), None if source is None else str(source)
    text = str(volume)
    if _WINDOWS_PATH.match(text):
        return "bind", text
    parts = text.split(":")
    if len(parts) == 1:
        return "volume", None
    source = parts[0]
    if source.startswith((".", "/", "~")) or not source:
        return "bind", source or "."
    return "volume", source


def _build_violations(
    name: str, build: Any, *, base: str, judge: PathJudge
) -> list[PolicyViolation]:
    if build is None:
        return []
    spec = build if isinstance(build, dict) else {"context": build}
    found: list[PolicyViolation] = []
    context = str(spec.get("context") or ".")
    found += _path(judge, context, base, "build context")
    dockerfile = spec.get("dockerfile")
    if isinstance(dockerfile, str) and not _REMOTE.match(context):
        context_dir = context if posixpath.isabs(context) else posixpath.join(base, context)
        found += _path(judge, dockerfile, context_dir, "build dockerfile")
    contexts = spec.get("additional_contexts")
    items = (
        contexts.values()
        if isinstance(contexts, dict)
        else [str(c).partition("=")[2] for c in as_list(contexts)]
    )
    for value in items:
        value = str(value)
        if not value.startswith(("service:", "docker-image://", "target:")):
            found += _path(judge, value, base, "build additional context")
    for what, bad in (
        ("network: host", str(spec.get("network") or "").lower() == "host"),
        ("privileged: true", truthy(spec.get("privileged"))),
        ("entitlements", bool(spec.get("entitlements"))),
        ("ssh (the host's SSH agent or keys)", bool(spec.get("ssh"))),
        ("a local cache (cache_to/cache_from type=local)", _local_cache(spec)),
    ):
        if bad:
            found.append(PolicyViolation("build", V_BUILD.format(service=name, what=what)))
    return found


def _local_cache(spec: Mapping[str, Any]) -> bool:
    caches = [*as_list(spec.get("cache_from")), *as_list(spec.get("cache_to"))]
    return any("type=local" in str(c).replace(" ", "") for c in caches)


def _path(judge: PathJudge, path: str, base: str, what: str) -> list[PolicyViolation]:
    problem = judge(path, base, what)
    return [problem] if problem else []


def _judge_relative(path: str, base: str, what: str) -> PolicyViolation | None:
    if _REMOTE.match(path):
        return PolicyViolation("remote", V_REMOTE.format(what=what, path=path))
    if _outside(path, base):
        return PolicyViolation("path", V_PATH.format(what=what, path=path))
    return None


def _outside(path: str, base: str) -> bool:
    """Whether a relative path, taken from folder `base` of the submission, leaves it."""
    if not path:
        return False
    if path.startswith(("/", "~", "\\")) or _WINDOWS_PATH.match(path) or _REMOTE.match(path):
        return True
    full = posixpath.normpath(posixpath.join("/submission", base, path.replace("\\", "/")))
    return full != "/submission" and not full.startswith("/submission/")
