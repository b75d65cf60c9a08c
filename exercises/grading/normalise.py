"""Adapt a stack that passed the policy to the sandbox; every change becomes a `sandbox:` note.

The services come out holding exactly what containers are to get, so the runtime applies
them as they are: ports dropped, names made the job's, limits clamped, drivers and host
options neutralised, and the confinement Drydock forces (`no-new-privileges`, no
`NET_RAW`) written in, whatever the learner asked for.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .capabilities import CAPABILITIES, FORCED_CAP_DROP, GRANTABLE, cap_name
from .compose_views import mapping
from .types import SandboxLimits

# Which check a `sandbox:` note is shown under.
NOTE_PORTS = "security-practices"
NOTE_HOST = "security-practices"
NOTE_LIMITS = "resource-limits"
NOTE_CONFIG = "environment-config"

_DROPPED_KEYS = (
    "runtime", "cgroup_parent", "isolation", "storage_opt", "oom_kill_disable",
    "external_links", "ulimits", "credential_spec",
)  # fmt: skip
_ROTATING_DRIVERS = frozenset({"json-file", "local", "none"})
FORCED_SECURITY_OPT = "no-new-privileges"


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
N_EXTERNAL_NETWORK = (
    "sandbox: network {network} is external (created before `docker compose up` on your "
    "machine): the sandbox creates it for the job"
)
N_EXTERNAL_VOLUME = (
    "sandbox: volume {volume} is external (created before `docker compose up` on your "
    "machine): the sandbox creates an empty one for the job"
)
N_NNP = (
    "sandbox: service {service} keeps no-new-privileges on in the sandbox "
    "(security_opt {value} is ignored)"
)
N_SECURITY_OPT = "sandbox: service {service}'s security_opt {value} is ignored in the sandbox"
N_NET_RAW = (
    "sandbox: service {service} runs without NET_RAW in the sandbox "
    "(cap_add {value} does not bring it back)"
)
N_UNKNOWN_CAP = "sandbox: service {service}'s {key} {value} is not a capability and is ignored"
N_ALL_CAPS = (
    "sandbox: service {service} runs with Docker's default capabilities only, without NET_RAW "
    "(cap_add {value} is ignored)"
)
N_NOT_GRANTED = (
    "sandbox: service {service} runs without {cap}: the sandbox grants only Docker's default "
    "capabilities (cap_add {value} is ignored)"
)


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
    services = {str(n): _unescape(s) for n, s in mapping(config.get("services")).items()}
    for name, service in services.items():
        notes += _normalise_service(name, service, limits)
    volumes = {str(k): v or {} for k, v in mapping(config.get("volumes")).items()}
    for key, volume in volumes.items():
        notes += _normalise_volume(key, volume, project, volume_root)
    networks = {str(k): v or {} for k, v in mapping(config.get("networks")).items()}
    for key, network in networks.items():
        notes += _normalise_network(key, network, project, services)
    secrets = {
        str(k): Path(v["file"])
        for k, v in mapping(config.get("secrets")).items()
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
    notes += _confine(name, service)
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


def _confine(name: str, service: dict[str, Any]) -> list[tuple[str, str]]:
    """Force no-new-privileges and drop NET_RAW, whatever the learner's options say.

    The learner's security_opt entries are all replaced: the engine reads
    `no-new-privileges:false` (or `=false`) as switching it off, and any other option is
    either a host profile or a spelling the engine refuses. cap_add loses NET_RAW and ALL
    (the engine adds cap_add after cap_drop, so either would bring NET_RAW back) as well as
    every capability Docker does not grant by default (SYS_ADMIN, DAC_READ_SEARCH, ...), and
    capability names the engine does not know are dropped rather than failing the start.
    """
    notes: list[tuple[str, str]] = []
    for option in [str(o) for o in service.get("security_opt") or []]:
        key = re.split(r"[=:]", option.strip(), maxsplit=1)[0].strip().lower()
        value = option.strip().lower().replace(" ", "")
        if key == FORCED_SECURITY_OPT and value in (key, f"{key}:true", f"{key}=true"):
            continue
        template = N_NNP if key == FORCED_SECURITY_OPT else N_SECURITY_OPT
        notes.append((NOTE_HOST, template.format(service=name, value=option)))
    service["security_opt"] = [FORCED_SECURITY_OPT]
    kept: dict[str, list[str]] = {}
    for key in ("cap_add", "cap_drop"):
        kept[key] = []
        for cap in [str(c) for c in service.get(key) or []]:
            plain = cap_name(cap)
            if plain not in CAPABILITIES:
                notes.append((NOTE_HOST, N_UNKNOWN_CAP.format(service=name, key=key, value=cap)))
            elif key == "cap_add" and plain == FORCED_CAP_DROP:
                notes.append((NOTE_HOST, N_NET_RAW.format(service=name, value=cap)))
            elif key == "cap_add" and plain == "ALL":
                notes.append((NOTE_HOST, N_ALL_CAPS.format(service=name, value=cap)))
            elif key == "cap_add" and plain not in GRANTABLE:
                notes.append((NOTE_HOST, N_NOT_GRANTED.format(service=name, cap=plain, value=cap)))
            elif plain not in kept[key]:
                kept[key].append(plain)
    if not {FORCED_CAP_DROP, "ALL"} & set(kept["cap_drop"]):
        kept["cap_drop"].append(FORCED_CAP_DROP)
    service["cap_drop"] = kept["cap_drop"]
    if kept["cap_add"]:
        service["cap_add"] = kept["cap_add"]
    else:
        service.pop("cap_add", None)
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
    if volume.pop("external", None):
        notes.append((NOTE_HOST, N_EXTERNAL_VOLUME.format(volume=key)))
        volume.pop("name", None)  # an external volume's name is the one it has outside
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
    if network.pop("external", None):
        notes.append((NOTE_HOST, N_EXTERNAL_NETWORK.format(network=key)))
        network.pop("name", None)  # an external network's name is the one it has outside
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
