"""Health checks: compose's (or the image's) healthcheck, probed promptly.

Docker would wait `interval` between probes; the sandbox probes every HEALTH_RETRY_S instead,
which reaches the same verdict as soon as the service is ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..rules.values import parse_bytes, parse_duration

HEALTH_RETRY_S = 0.3  # pause between two failed health probes
MIN_HEALTH_BUDGET_S = 5.0  # a health check never gets less than this to pass
# Docker's own healthcheck defaults.
DEFAULT_INTERVAL_S, DEFAULT_TIMEOUT_S, DEFAULT_RETRIES = 30.0, 30.0, 3

# One reader of compose durations and byte sizes, shared with the rules (issue 11).
__all__ = ["HealthSpec", "health_spec", "parse_bytes", "parse_duration"]


@dataclass
class HealthSpec:
    test: list[str]  # Docker's form: ["CMD", ...] or ["CMD-SHELL", "..."]
    interval_s: float
    timeout_s: float
    retries: int
    start_period_s: float

    @property
    def argv(self) -> list[str]:
        if self.test[0] == "CMD-SHELL":
            return ["/bin/sh", "-c", " ".join(self.test[1:])]
        return list(self.test[1:])

    @property
    def budget_s(self) -> float:
        """How long the check may take to pass: its own start period plus `retries` probes.

        Docker would wait `interval` between probes; probing every HEALTH_RETRY_S instead
        reaches the same verdict as soon as the service is ready, without waiting 10-30 s.
        """
        return max(MIN_HEALTH_BUDGET_S, self.start_period_s + self.retries * self.timeout_s)

    def for_docker(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "interval": int(self.interval_s * 1e9),
            "timeout": int(self.timeout_s * 1e9),
            "retries": self.retries,
            "start_period": int(self.start_period_s * 1e9),
        }


def health_spec(service: dict[str, Any], image_config: dict[str, Any]) -> HealthSpec | None:
    """The health check that applies: the service's, else the image's HEALTHCHECK."""
    declared = service.get("healthcheck") or {}
    if declared.get("disable"):
        return None
    image_check = image_config.get("Healthcheck") or {}
    test = declared.get("test") or image_check.get("Test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not test or test[0] == "NONE" or len(test) < 2:
        return None
    if test[0] not in ("CMD", "CMD-SHELL"):
        test = ["CMD", *test]

    def pick(key: str, image_key: str, default: float) -> float:
        if declared.get(key) not in (None, ""):
            return parse_duration(declared[key], default)
        return (
            parse_duration(image_check.get(image_key), default)
            if image_check.get(image_key)
            else default
        )

    retries = (
        declared.get("retries")
        if declared.get("retries") is not None
        else image_check.get("Retries")
    )
    return HealthSpec(
        test=[str(t) for t in test],
        interval_s=pick("interval", "Interval", DEFAULT_INTERVAL_S),
        timeout_s=pick("timeout", "Timeout", DEFAULT_TIMEOUT_S),
        retries=int(retries) if retries else DEFAULT_RETRIES,
        start_period_s=pick("start_period", "StartPeriod", 0.0),
    )
