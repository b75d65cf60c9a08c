"""The one reader of compose values: booleans, ports, bytes, durations, CPUs and a
service's limits.

Compose's normalised JSON and the learner's raw YAML spell the same value several ways
(`512M`, `"536870912"`, `536870912`; `'0.5'`, `0.5`; `cpu_quota` over `cpu_period`;
`yes`, `true`, `1`). Every rule, and whoever else asks "what is this service's memory
limit?", reads it here, so that two readers can never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..compose_views import truthy  # noqa: F401 (Compose's booleans: one reader for both)

FALSE_WORDS = frozenset({"", "0", "false", "no", "off", "n"})

_BYTES = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*")
_BYTE_FACTOR = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# A setting's value that is a number or an amount of time: 3600, 1.5, 30s, 1m30s, 7d, 12h.
_NUMBER_OR_DURATION = re.compile(r"^[+-]?\d+(\.\d+)?([a-zµ]{1,2}(\d+(\.\d+)?[a-zµ]{1,2})*)?$", re.I)


def falsy_text(value: Any) -> bool:
    """An explicit no (or nothing): "", "0", "false", "off"."""
    return str(value if value is not None else "").strip().lower() in FALSE_WORDS


def port_text(port: Any) -> str:
    """A published port, long or short syntax, as the learner would write it."""
    if isinstance(port, dict):
        host = f"{port['host_ip']}:" if port.get("host_ip") else ""
        published = port.get("published") or ""
        return f"{host}{published}:{port.get('target')}".lstrip(":")
    return str(port)


def number(value: Any) -> float:
    """A float, or 0 when the value is missing or not a number."""
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def parse_bytes(value: Any) -> int:
    """Compose byte values ("536870912", 536870912, "512m", "1.5G", "256MiB") to bytes; 0
    when unset or unreadable."""
    if value in (None, "", 0) or isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return int(value)
    match = _BYTES.fullmatch(str(value).lower())
    if not match:
        return 0
    return int(float(match.group(1)) * _BYTE_FACTOR[match.group(2)])


def parse_duration(value: Any, default: float) -> float:
    """Compose/Go durations ("1m30s", "500ms", "10s") or nanoseconds (int) to seconds."""
    if value is None or value == "" or isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value) / 1e9 if value > 10_000 else float(value)
    parts = _DURATION_PART.findall(str(value))
    if not parts:
        return default
    return sum(float(amount) * _DURATION_S[unit] for amount, unit in parts)


def is_number_or_duration(text: str) -> bool:
    """3600, 0.5, 30s, 1m30s, 7d: a setting, not a secret."""
    return bool(_NUMBER_OR_DURATION.match(text.strip()))


def mebibytes(amount: float) -> str:
    return f"{amount / 1024**2:.0f} MiB"


@dataclass(frozen=True)
class Limits:
    """A service's own limits; 0 where it sets none."""

    memory: int  # bytes
    cpus: float
    pids: int

    def text(self) -> str:
        shown = [f"memory {mebibytes(self.memory)}" if self.memory else "no memory limit"]
        shown.append(f"cpus {self.cpus:g}" if self.cpus else "no CPU limit")
        if self.pids > 0:
            shown.append(f"pids {self.pids}")
        return ", ".join(shown)


def service_limits(service: Mapping[str, Any]) -> Limits:
    """The limits a service sets, from deploy.resources.limits or the legacy keys
    (mem_limit, cpus, cpu_quota/cpu_period, pids_limit); the deploy form wins."""
    deploy = service.get("deploy") if isinstance(service.get("deploy"), Mapping) else {}
    resources = deploy.get("resources") if isinstance(deploy.get("resources"), Mapping) else {}
    limits = resources.get("limits") if isinstance(resources.get("limits"), Mapping) else {}
    memory = parse_bytes(limits.get("memory")) or parse_bytes(service.get("mem_limit"))
    cpus = number(limits.get("cpus")) or number(service.get("cpus"))
    if not cpus and number(service.get("cpu_quota")) > 0:
        cpus = number(service.get("cpu_quota")) / (number(service.get("cpu_period")) or 100_000)
    pids = int(number(limits.get("pids")) or number(service.get("pids_limit")))
    return Limits(max(memory, 0), max(cpus, 0.0), pids)


def dotenv(content: str) -> dict[str, str]:
    """KEY=value lines of an env file (`export`, quotes and comments as Compose reads them)."""
    values: dict[str, str] = {}
    for line in content.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if value[:1] in ("'", '"') and value[-1:] == value[:1] and len(value) > 1:
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values
