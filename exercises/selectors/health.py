"""Grading health, for the exercise page's banner: is a worker and an engine reachable?"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class GradingHealth:
    broker: bool
    workers: int
    engine: bool | None  # None: not checked from the web process

    @property
    def ok(self) -> bool:
        return self.broker and self.workers > 0 and self.engine is not False


HEALTH_CACHE_KEY = "exercises:grading-health"


def _broker_up() -> bool:
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
        return True  # another transport: let control.ping answer
    from drydock.health import check_broker

    return check_broker().ok


def _workers() -> int:
    from drydock.celery import app

    try:
        return len(app.control.ping(timeout=0.5) or [])
    except Exception:  # the broker went away between the two checks
        return 0


def _engine_up() -> bool | None:
    """Is an engine reachable for grading? None when not checked (DRYDOCK_HEALTH_ENGINE "off").

    The same check as /readyz's (drydock.health.check_engine): "workers" reads the engine
    reports the grading workers publish in Redis (the web process of a deployment has no
    engine), "direct" pings DOCKER_HOST from this process (the single-machine set-up).
    """
    from drydock.health import check_engine

    check = check_engine(settings.DRYDOCK_HEALTH_ENGINE)
    return None if check is None else check.ok


def grading_health(*, refresh: bool = False) -> GradingHealth:
    """Are a worker and the engine reachable? Cached for DRYDOCK_HEALTH_CACHE_S seconds.

    Cheap and bounded: a half-second Redis ping, then Celery's `control.ping` (0.5 s), then a
    Docker ping. The page loads the banner with htmx, so it never waits for this.
    """
    health = None if refresh else cache.get(HEALTH_CACHE_KEY)
    if health is None:
        broker = _broker_up()
        health = GradingHealth(
            broker=broker, workers=_workers() if broker else 0, engine=_engine_up()
        )
        cache.set(HEALTH_CACHE_KEY, health, settings.DRYDOCK_HEALTH_CACHE_S)
    return health
