"""The sandbox policy: refuse what could reach the host, normalise the rest for the sandbox.

`raw_violations` judges the learner's YAML before Docker Compose ever reads it (Compose
happily accepts `privileged`, docker.sock and `/etc/shadow` secrets, and reads env_files
anywhere), after Drydock's own interpolation so that `${X:-/}` is judged by its value.
`normalised_violations` judges Compose's merged output again (extends, include and
interpolation all resolved), a second line of defence. `sandbox_inputs` supplies what a
production environment would (variables, secret files with canary values) and
`sandbox_normalise` adapts a stack that passed to the sandbox, noting each change.
"""

from __future__ import annotations

import copy
import posixpath
import re
import secrets as random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .compose import (
    as_list,
    env_dict,
    find_db_service,
    interpolate_tree,
    variables_used,
)
from .types import PolicyViolation, SandboxLimits

# Which check a `sandbox:` note is shown under.
NOTE_PORTS = "security-practices"
NOTE_HOST = "security-practices"
NOTE_LIMITS = "resource-limits"
NOTE_CONFIG = "environment-config"

_HOST_NAMESPACES = ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup")
_ALLOWED_CAPS = frozenset({"NET_BIND_SERVICE"})
_REMOTE = re.compile(
    r"^([a-z][a-z0-9+.-]*://|git@|(github\.com|gitlab\.com|bitbucket\.org)/)", re.I
)
_WINDOWS_PATH = re.compile(r"^([a-zA-Z]:[\\/]|\\\\)")
_DROPPED_KEYS = (
    "runtime", "cgroup_parent", "isolation", "storage_opt", "oom_kill_disable",
    "external_links", "ulimits", "credential_spec",
)  # fmt: skip
_ROTATING_DRIVERS = frozenset({"json-file", "local", "none"})
MAX_SERVICES = 12
MAX_RESOURCES = 16  # volumes, networks, secrets, configs each

V_PRIVILEGED = "service {service} runs privileged"
V_NAMESPACE = "service {service} shares the host's namespace ({key}: {value})"
V_CAP_ADD = "service {service} adds capability {cap} (only NET_BIND_SERVICE is allowed)"
V_DEVICES = "service {service} asks for host devices ({key})"
V_SYSCTLS = "service {service} sets kernel parameters (sysctls)"
V_SECURITY_OPT = "service {service} weakens confinement (security_opt: {value})"
V_BIND = "service {service} mounts {source}, which is outside your submission"
V_VOLUMES_FROM = "service {service} mounts the volumes of another container ({value})"
V_NPIPE = "service {service} mounts a host named pipe"
V_EXTERNAL = "{kind} {name} is external (the sandbox creates its own)"
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

    return _violations(config, base=root, judge=judge)


def referenced_files(document: Mapping[str, Any], *, base: str) -> list[str]:
    """Other compose files this one pulls in (include, extends), relative to the submission."""
    found: list[str] = []
    for entry in as_list(document.get("include")):
        paths = entry.get("path") if isinstance(entry, dict) else entry
        found += [str(p) for p in as_list(paths)]
    for service in _mapping(document.get("services")).values():
        extends = service.get("extends") if isinstance(service, dict) else None
        if isinstance(extends, dict) and isinstance(extends.get("file"), str):
            found.append(extends["file"])
    return [posixpath.normpath(posixpath.join(base, p)) for p in found if not _outside(p, base)]


def _violations(
    document: Mapping[str, Any], *, base: str, judge: PathJudge
) -> list[PolicyViolation]:
    found: list[PolicyViolation] = []
    services = _mapping(document.get("services"))
    if len(services) > MAX_SERVICES:
        detail = V_TOO_MANY.format(limit=MAX_SERVICES, kind="services", count=len(services))
        found.append(PolicyViolation("too-many", detail))
    for name, service in services.items():
        if isinstance(service, dict):
            found += _service_violations(str(name), service, base=base, judge=judge)
    for kind in ("volumes", "networks", "secrets", "configs"):
        declared = _mapping(document.get(kind))
        if len(declared) > MAX_RESOURCES:
            detail = V_TOO_MANY.format(limit=MAX_RESOURCES, kind=kind, count=len(declared))
            found.append(PolicyViolation("too-many", detail))
        for name, spec in declared.items():
            if not isinstance(spec, dict):
                continue
            if _truthy(spec.get("external")) or isinstance(spec.get("external"), dict):
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
    if _truthy(service.get("privileged")) or any(
        isinstance(h, dict) and _truthy(h.get("privileged")) for h in hooks
    ):
        add("privileged", V_PRIVILEGED)
    for key in _HOST_NAMESPACES:
        value = str(service.get(key) or "").strip().lower()
        if value == "host" or value.startswith("container:"):
            add("host-namespace", V_NAMESPACE, key=key, value=value)
    for cap in as_list(service.get("cap_add")):
        if str(cap).upper().removeprefix("CAP_") not in _ALLOWED_CAPS:
            add("cap-add", V_CAP_ADD, cap=cap)
    reservations = _mapping(
        _mapping(_mapping(service.get("deploy")).get("resources")).get("reservations")
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
    if _truthy(service.get("use_api_socket")):
        add("docker-socket", V_SOCKET)
    if service.get("provider"):
        add("unsupported", V_UNSUPPORTED, what=f"service {name}'s provider")
    found += _volume_violations(name, service, base=base, judge=judge)
    for key in ("env_file", "label_file"):
        for entry in as_list(service.get(key)):
            path = entry.get("path") if isinstance(entry, dict) else entry
            if isinstance(path, str):
                found += _path(judge, path, base, key)
    credential_spec = _mapping(service.get("credential_spec"))
    if isinstance(credential_spec.get("file"), str):
        found += _path(judge, credential_spec["file"], base, "credential_spec file")
    found += _build_violations(name, service.get("build"), base=base, judge=judge)
    extends = service.get("extends")
    if isinstance(extends, dict) and isinstance(extends.get("file"), str):
        found += _path(judge, extends["file"], base, "extends file")
    return found


def _blkio_devices(config: Any) -> list[Any]:
    """Host block devices named in blkio_config (its weight alone touches no device)."""
    return [d for key, value in _mapping(config).items() if key != "weight" for d in as_list(value)]


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
        ("privileged: true", _truthy(spec.get("privileged"))),
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


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "on", "1", "y")
    return value is True or (isinstance(value, int) and value != 0)


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


# --- what the grader supplies -----------------------------------------------------------------

DEFAULT_VARIABLES = {
    "REGISTRY_URL": "registry.drydock.test",
    "VERSION": "1.4.2",
    "BUILD_NUMBER": "87",
    "DB_USER": "drydock",
    "DB_NAME": "drydock",
    "NODE_ENV": "production",
    "PORT": "3000",
    "GIT_SHA": "8f731a2",
}
_DB_CONNECTION = ("DB_URL", "DATABASE_URL", "DB_HOST", "DB_PORT")
_DEFAULT_DB_PORTS = {"postgres": 5432, "mysql": 3306, "mongodb": 27017}
_SECRETISH = re.compile(r"PASS|SECRET|TOKEN|(^|_)KEY($|_)|APIKEY|PRIVATE", re.I)
_DBISH = re.compile(r"DB|DATABASE|POSTGRES|PG|MYSQL|MARIA|MONGO", re.I)
_URLISH = re.compile(r"(URL|URI|DSN|CONNECTION_STRING)$", re.I)
SECRET_DIR_NOTE = "sandbox: secret file {path} holds a value generated by the grader"
ENV_FILE_NOTE = "sandbox: env_file {path} is not in your submission; the grader supplies it"
VARIABLES_NOTE = "sandbox: the grader supplies {names}"
UNSET_NOTE = "sandbox: variable {name} is not supplied by the grader (it is empty)"


@dataclass
class SandboxInputs:
    variables: dict[str, str]
    document: dict[str, Any]  # the learner's compose document, interpolated with `variables`
    files: dict[str, str]  # relative path in the workdir -> content (secret files, env files)
    canaries: list[str]
    notes: list[str] = field(default_factory=list)
    db_service: str | None = None


def canary() -> str:
    return "drydockcanary" + random.token_hex(12)


def sandbox_inputs(
    document: Mapping[str, Any], text: str, *, texts: Mapping[str, str]
) -> SandboxInputs:
    """Variables, secret files and env files for the learner's raw compose document.

    The database credentials are made consistent wherever the learner reads them from
    (a `*_PASSWORD_FILE` secret, `${VAR}`s, an env_file, a literal), so that DB_URL
    really connects. `texts` are the submission's files by name.
    """
    used = variables_used(text)
    db_password = canary()
    variables = {**DEFAULT_VARIABLES, "DB_PASSWORD": db_password}
    canaries = [db_password]
    for name, has_fallback in used.items():
        if name in variables or name in _DB_CONNECTION:
            continue
        value = _guess(name, db_password)
        if value == "canary":
            value = canary()
            canaries.append(value)
        if value is not None and (not has_fallback or _SECRETISH.search(name)):
            variables[name] = value
    interpolated = interpolate_tree(dict(document), variables)
    services = _mapping(interpolated.get("services"))
    db = find_db_service(services)
    db_spec = _mapping(services.get(db)) if db else {}
    db_env: dict[str, str | None] = {}
    for path in _env_file_paths({"services": {db: db_spec}} if db else {}):
        db_env.update(_dotenv(texts.get(path, "")))
    db_env.update(env_dict(db_spec.get("environment")))
    kind = _db_kind(db_spec)
    default_user = "root" if kind == "mysql" else "postgres"
    user = db_env.get("POSTGRES_USER") or db_env.get("MYSQL_USER") or default_user
    name = db_env.get("POSTGRES_DB") or db_env.get("MYSQL_DATABASE") or user
    files, notes = _secret_files(interpolated, db_spec, db_password, canaries)
    password = _db_password(db_env, db_password)
    host, port = db or "db", _DEFAULT_DB_PORTS[kind]
    url = f"{kind}://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{quote(name, safe='')}"
    variables.update(DB_URL=url, DATABASE_URL=url, DB_HOST=host, DB_PORT=str(port))
    variables.update(DB_USER=user, DB_NAME=name)
    for other in used:  # POSTGRES_URL, DB_CONNECTION_STRING...: the same connection URL
        if other not in variables and _DBISH.search(other) and _URLISH.search(other):
            variables[other] = url
    interpolated = interpolate_tree(dict(document), variables)
    for env_file in _env_file_paths(interpolated):
        if env_file not in texts:
            files[env_file] = _env_file_content(variables)
            notes.append(ENV_FILE_NOTE.format(path=env_file))
    supplied = sorted(n for n in used if n in variables)
    if supplied:
        notes.insert(0, VARIABLES_NOTE.format(names=", ".join(supplied)))
    notes += [
        UNSET_NOTE.format(name=n) for n, fb in sorted(used.items()) if n not in variables and not fb
    ]
    return SandboxInputs(variables, interpolated, files, canaries, notes, db)


def _guess(name: str, db_password: str) -> str | None:
    """A value for a variable the grader does not know by name, from what the name says."""
    upper = name.upper()
    dbish = bool(_DBISH.search(upper))
    rules: list[tuple[bool, str | None]] = [
        (upper.endswith(("_FILE", "_PATH", "_DIR")), None),
        (bool(_SECRETISH.search(upper)), db_password if dbish or upper == "PASSWORD" else "canary"),
        (upper.endswith(("USER", "USERNAME")), DEFAULT_VARIABLES["DB_USER"]),
        (bool(_URLISH.search(upper)) and dbish, None),  # filled in once the db is known
        (dbish and upper.endswith(("NAME", "_DB", "DATABASE")), DEFAULT_VARIABLES["DB_NAME"]),
        (any(w in upper for w in ("VERSION", "TAG", "RELEASE")), DEFAULT_VARIABLES["VERSION"]),
        (
            any(w in upper for w in ("BUILD", "RUN_NUMBER", "PIPELINE")),
            DEFAULT_VARIABLES["BUILD_NUMBER"],
        ),
        (any(w in upper for w in ("SHA", "COMMIT", "REVISION")), DEFAULT_VARIABLES["GIT_SHA"]),
        ("REGISTRY" in upper, DEFAULT_VARIABLES["REGISTRY_URL"]),
        (upper.endswith("PORT"), "5432" if dbish else DEFAULT_VARIABLES["PORT"]),
        (upper.endswith("ENV") or upper.endswith("ENVIRONMENT"), "production"),
    ]
    return next((value for matches, value in rules if matches), None)


def _db_kind(service: Any) -> str:
    image = str(_mapping(service).get("image") or "").lower()
    if "mysql" in image or "mariadb" in image:
        return "mysql"
    return "mongodb" if "mongo" in image else "postgres"


def _db_password(db_env: Mapping[str, str | None], generated: str) -> str:
    for key in (
        "POSTGRES_PASSWORD",
        "MYSQL_PASSWORD",
        "MYSQL_ROOT_PASSWORD",
        "MONGO_INITDB_ROOT_PASSWORD",
    ):
        value = db_env.get(key)
        if value:
            return value
    return generated


def _secret_files(
    document: Mapping[str, Any], db_service: Any, db_password: str, canaries: list[str]
) -> tuple[dict[str, str], list[str]]:
    """A canary for every secret file; the database's own password file gets the DB password."""
    db_secrets = _db_password_secrets(_mapping(db_service))
    files: dict[str, str] = {}
    notes: list[str] = []
    for name, spec in _mapping(document.get("secrets")).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("file"), str):
            continue
        path = posixpath.normpath(spec["file"])
        is_db = name in db_secrets or bool(_DBISH.search(name) and re.search("pass", name, re.I))
        value = db_password if is_db else canary()
        if value not in canaries:
            canaries.append(value)
        files[path] = value
        notes.append(SECRET_DIR_NOTE.format(path=spec["file"]))
    return files, notes


def _db_password_secrets(service: Mapping[str, Any]) -> set[str]:
    """Secrets the database reads its password from (`POSTGRES_PASSWORD_FILE=/run/secrets/x`)."""
    targets: dict[str, str] = {}
    for entry in as_list(service.get("secrets")):
        if isinstance(entry, dict) and entry.get("source"):
            target = str(entry.get("target") or entry["source"])
            targets[posixpath.join("/run/secrets", target)] = str(entry["source"])
        elif isinstance(entry, str):
            targets[f"/run/secrets/{entry}"] = entry
    env = env_dict(service.get("environment"))
    return {
        targets[value]
        for key, value in env.items()
        if key.upper().endswith("PASSWORD_FILE") and value in targets
    }


def _env_file_paths(document: Mapping[str, Any]) -> list[str]:
    paths: list[str] = []
    for service in _mapping(document.get("services")).values():
        for entry in as_list(_mapping(service).get("env_file")):
            spec = entry if isinstance(entry, dict) else {"path": entry}
            if isinstance(spec.get("path"), str) and spec.get("required", True) is not False:
                paths.append(posixpath.normpath(spec["path"]))
    return paths


def _env_file_content(variables: Mapping[str, str]) -> str:
    """Credentials and connection settings only: an env file the grader writes must not
    earn the learner NODE_ENV or other settings the checklist asks for."""
    values = {key: variables[key] for key in (*_DB_CONNECTION, "DB_USER", "DB_NAME", "DB_PASSWORD")}
    values.update(
        POSTGRES_USER=variables["DB_USER"],
        POSTGRES_DB=variables["DB_NAME"],
        POSTGRES_PASSWORD=variables["DB_PASSWORD"],
    )
    return "".join(f"{key}={value}\n" for key, value in values.items())


def _dotenv(content: str) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for line in content.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.removeprefix("export ").partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


# --- normalisation ----------------------------------------------------------------------------


@dataclass
class Normalised:
    services: dict[str, dict[str, Any]]
    volumes: dict[str, dict[str, Any]]
    networks: dict[str, dict[str, Any]]
    secrets: dict[str, Path]
    notes: list[tuple[str, str]]  # (check id, "sandbox: ...")


N_PORTS = "sandbox: service {service} publishes no ports ({ports}); the grader reaches it on the sandbox network"
N_CONTAINER_NAME = "sandbox: service {service}'s container_name {value} is replaced by a job name"
N_REPLICAS = "sandbox: service {service} runs 1 replica instead of {value}"
N_MEMORY = (
    "sandbox: service {service}'s memory limit {value} is clamped to the sandbox maximum {limit}"
)
N_CPUS = "sandbox: service {service}'s CPU limit {value} is clamped to the sandbox maximum {limit}"
N_PIDS = "sandbox: service {service}'s pids limit {value} is clamped to {limit}"
N_DROPPED = "sandbox: service {service}'s {key} is ignored in the sandbox"
N_LOGGING = "sandbox: service {service} logs to json-file instead of {driver} in the sandbox"
N_DEVICE = "sandbox: volume {volume}'s bind device {device} is redirected to a scratch directory"
N_VOLUME_DRIVER = "sandbox: volume {volume} uses the local driver instead of {driver}"
N_VOLUME_OPTS = "sandbox: volume {volume}'s driver options are ignored in the sandbox"
N_NAME = "sandbox: {kind} {key}'s name {value} is replaced by a job name"
N_NETWORK = "sandbox: network {network}'s {key} is ignored in the sandbox"


def sandbox_normalise(
    config: Mapping[str, Any],
    *,
    project: str,
    limits: SandboxLimits,
    volume_root: Path,
) -> Normalised:
    """Adapt Compose's normalised project to the sandbox; every change becomes a note.

    The services come out holding the values containers really get: Compose's JSON escapes
    every literal `$` as `$$` (so that its output can be loaded again), and the runtime
    hands these values to the engine directly, not back through Compose. Bind devices are
    redirected under `volume_root` (a folder of the workdir, created by the runtime).
    """
    config = copy.deepcopy(dict(config))
    notes: list[tuple[str, str]] = []
    services = {str(n): _unescape(s) for n, s in _mapping(config.get("services")).items()}
    for name, service in services.items():
        notes += _normalise_service(name, service, limits)
    volumes = {str(k): v or {} for k, v in _mapping(config.get("volumes")).items()}
    for key, volume in volumes.items():
        notes += _normalise_volume(key, volume, project, volume_root)
    networks = {str(k): v or {} for k, v in _mapping(config.get("networks")).items()}
    for key, network in networks.items():
        notes += _normalise_network(key, network, project, services)
    secrets = {
        str(k): Path(v["file"])
        for k, v in _mapping(config.get("secrets")).items()
        if isinstance(v, dict) and isinstance(v.get("file"), str)
    }
    return Normalised(services, volumes, networks, secrets, notes)


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {key: _unescape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unescape(item) for item in value]
    return value


def _normalise_service(
    name: str, service: dict[str, Any], limits: SandboxLimits
) -> list[tuple[str, str]]:
    notes: list[tuple[str, str]] = []
    if service.get("ports"):
        ports = ", ".join(_port_text(p) for p in service.pop("ports"))
        notes.append((NOTE_PORTS, N_PORTS.format(service=name, ports=ports)))
    if service.get("container_name"):
        value = service.pop("container_name")
        notes.append((NOTE_CONFIG, N_CONTAINER_NAME.format(service=name, value=value)))
    deploy = service.get("deploy") or {}
    for holder, key in ((deploy, "replicas"), (service, "scale")):
        if isinstance(holder.get(key), int) and holder[key] > 1:
            notes.append((NOTE_LIMITS, N_REPLICAS.format(service=name, value=holder[key])))
            holder[key] = 1
    resource_limits = (deploy.get("resources") or {}).get("limits") or {}
    for holder in (resource_limits, service):
        notes += _clamp(
            name, holder, "memory" if holder is resource_limits else "mem_limit", limits
        )
        notes += _clamp(name, holder, "cpus", limits)
        notes += _clamp(name, holder, "pids" if holder is resource_limits else "pids_limit", limits)
    for key in _DROPPED_KEYS:
        if key in service and service[key] not in (None, False):
            service.pop(key)
            notes.append((NOTE_HOST, N_DROPPED.format(service=name, key=key)))
    logging = service.get("logging")
    if isinstance(logging, dict) and logging.get("driver") not in (None, *_ROTATING_DRIVERS):
        options = {
            k: v for k, v in (logging.get("options") or {}).items() if k in ("max-size", "max-file")
        }
        notes.append((NOTE_HOST, N_LOGGING.format(service=name, driver=logging["driver"])))
        service["logging"] = {"driver": "json-file", "options": options}
    build = service.get("build")
    if isinstance(build, dict):
        for key in (
            "ssh",
            "cache_from",
            "cache_to",
            "network",
            "additional_contexts",
            "dockerfile_inline",
        ):
            build.pop(key, None)
    return notes


def _clamp(
    name: str, holder: dict[str, Any], key: str, limits: SandboxLimits
) -> list[tuple[str, str]]:
    value = holder.get(key)
    if value is None:
        return []
    try:
        number = float(value)
    except (TypeError, ValueError):
        return []
    if key in ("memory", "mem_limit"):
        maximum, template, shown = limits.memory_bytes, N_MEMORY, _megabytes
    elif key == "cpus":
        maximum, template, shown = limits.nano_cpus / 1e9, N_CPUS, _number
    else:
        maximum, template, shown = limits.pids, N_PIDS, _number
    unlimited = number <= 0  # 0 (or -1 for pids) means "no limit"; the resource check reports it
    if number <= maximum and not unlimited or unlimited and key not in ("pids", "pids_limit"):
        return []
    holder[key] = str(maximum) if key in ("memory", "mem_limit") else maximum
    text = template.format(service=name, value=shown(number), limit=shown(maximum))
    return [(NOTE_LIMITS, text)]


def _megabytes(value: float) -> str:
    return f"{value / 1024**2:.0f} MiB"


def _number(value: float) -> str:
    return f"{value:g}"


def _port_text(port: Any) -> str:
    if isinstance(port, dict):
        published = port.get("published")
        return f"{published}:{port.get('target')}" if published else str(port.get("target"))
    return str(port)


def _normalise_volume(
    key: str, volume: dict[str, Any], project: str, root: Path
) -> list[tuple[str, str]]:
    notes: list[tuple[str, str]] = []
    expected = f"{project}_{key}"
    if volume.get("name") not in (None, expected):
        notes.append((NOTE_HOST, N_NAME.format(kind="volume", key=key, value=volume["name"])))
    volume["name"] = expected
    driver = volume.get("driver")
    if driver not in (None, "local"):
        notes.append((NOTE_HOST, N_VOLUME_DRIVER.format(volume=key, driver=driver)))
        volume.pop("driver")
        volume.pop("driver_opts", None)
    options = volume.get("driver_opts") or {}
    if "device" in options and (
        "bind" in str(options.get("o", "")) or options.get("type") == "none"
    ):
        target = root / key
        notes.append((NOTE_CONFIG, N_DEVICE.format(volume=key, device=options["device"])))
        volume["driver_opts"] = {"type": "none", "o": "bind", "device": str(target)}
    elif options and options.get("type") != "tmpfs":
        notes.append((NOTE_HOST, N_VOLUME_OPTS.format(volume=key)))
        volume.pop("driver_opts")
    return notes


def _normalise_network(
    key: str, network: dict[str, Any], project: str, services: Mapping[str, dict[str, Any]]
) -> list[tuple[str, str]]:
    notes: list[tuple[str, str]] = []
    expected = f"{project}_{key}"
    if network.get("name") not in (None, expected) and key != "default":
        notes.append((NOTE_HOST, N_NAME.format(kind="network", key=key, value=network["name"])))
    network["name"] = expected
    if network.get("driver") not in (None, "bridge"):
        notes.append((NOTE_HOST, N_NETWORK.format(network=key, key=f"driver {network['driver']}")))
        network.pop("driver")
    for option in ("driver_opts", "ipam"):
        if network.get(option) and (option != "ipam" or network["ipam"].get("config")):
            notes.append((NOTE_HOST, N_NETWORK.format(network=key, key=option)))
            network.pop(option)
            for service in services.values():
                attachment = (service.get("networks") or {}).get(key)
                if isinstance(attachment, dict):
                    for address in ("ipv4_address", "ipv6_address", "link_local_ips"):
                        attachment.pop(address, None)
    return notes
