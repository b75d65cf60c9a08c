"""Check 4, resource-limits: every service has a memory and a CPU limit."""

from __future__ import annotations

from .analysis import Analysis, Verdict
from .values import service_limits


def resource_limits(a: Analysis) -> Verdict:
    v = Verdict()
    if not a.services:
        v.fail("The compose file has no services.")
    for name, service in a.services.items():
        limits = service_limits(service)
        reservations = ((service.get("deploy") or {}).get("resources") or {}).get("reservations")
        if not limits.memory:
            v.fail(f"Service {name} has no memory limit.")
        if not limits.cpus:
            v.fail(f"Service {name} has no CPU limit.")
        if limits.memory and limits.cpus:
            v.ok(f"service {name}: {limits.text()}")
        elif reservations:
            v.note(f"service {name} has reservations, which are guarantees, not limits")
    return v
