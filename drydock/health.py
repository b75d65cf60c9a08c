"""Liveness (/healthz), readiness (/readyz) and the grading workers' engine heartbeat.

- `/healthz` answers 200 as long as the process serves requests: it touches nothing else, so
  a database or broker outage never makes an orchestrator restart every web container.
  It is what the image's HEALTHCHECK calls.
- `/readyz` checks what serving needs: the database, the broker, and a Docker engine to grade
  on. It answers 200 only if all pass, else 503, with one entry per check either way.
- The engine: the web container has no engine by design (least privilege; only workers get
  DOCKER_HOST). Each worker pings its own engine every DRYDOCK_ENGINE_HEARTBEAT_S seconds and
  publishes the result in Redis with a TTL; `/readyz` reads those reports
  (`DRYDOCK_READYZ_ENGINE=workers`, the default). `direct` pings DOCKER_HOST from this process
  instead (a worker's own readiness), `off` skips the check.

https://kubernetes.io/docs/reference/using-api/health-checks/ describes the convention.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import redis
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

ENGINE_KEY_PREFIX = "drydock:engine:"
NO_WORKER_REPORT = "no grading worker has reported its engine recently"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    ms: int


def _timed(name: str, probe: Callable[[], str]) -> Check:
    """Run one probe; any exception is a failed check whose detail is its message."""
    started = time.monotonic()
    try:
        detail, ok = probe(), True
    except Exception as error:  # a readiness probe reports, it never raises
        detail, ok = f"{type(error).__name__}: {error}"[:300], False
    return Check(name, ok, detail, round((time.monotonic() - started) * 1000))


def _broker() -> redis.Redis:
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1
    )


def check_database() -> Check:
    def probe() -> str:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connections["default"].vendor

    return _timed("database", probe)


def check_broker() -> Check:
    def probe() -> str:
        client = _broker()
        try:
            client.ping()
        finally:
            client.close()
        return "redis"

    return _timed("broker", probe)


def engine_ping() -> str:
    """Ping the engine DOCKER_HOST names; raises InfrastructureError when unreachable."""
    from exercises.grading import sandbox  # docker-py is only imported where it is used

    return sandbox.engine_status(timeout=5)


def check_engine_direct() -> Check:
    return _timed("engine", engine_ping)


def engine_reports() -> dict[str, dict]:
    """The workers' latest engine reports, by worker node name (expired ones are gone)."""
    client = _broker()
    try:
        reports = {}
        for key in client.scan_iter(match=ENGINE_KEY_PREFIX + "*", count=100):
            raw = client.get(key)
            if raw:
                reports[key.decode().removeprefix(ENGINE_KEY_PREFIX)] = json.loads(raw)
        return reports
    finally:
        client.close()


def check_engine_via_workers() -> Check:
    def probe() -> str:
        reports = engine_reports()
        ok = sorted(node for node, report in reports.items() if report.get("ok"))
        if not ok:
            failing = "; ".join(f"{n}: {r.get('detail')}" for n, r in sorted(reports.items()))
            raise RuntimeError(failing or NO_WORKER_REPORT)
        return f"reachable from {len(ok)} of {len(reports)} worker(s): {', '.join(ok)}"

    return _timed("engine", probe)


def check_engine(mode: str) -> Check | None:
    """The one check of the grading engine, shared by /readyz and the exercise page's banner:
    "workers" reads the workers' reports, "direct" pings DOCKER_HOST, anything else (off): None."""
    if mode == "direct":
        return check_engine_direct()
    if mode == "workers":
        return check_engine_via_workers()
    return None


def readiness(*, engine: str | None = None) -> tuple[bool, list[Check]]:
    """All checks (database, broker, engine by `engine` mode) and whether every one passed."""
    engine_check = check_engine(engine or settings.DRYDOCK_READYZ_ENGINE)
    checks = [check_database(), check_broker(), *([engine_check] if engine_check else [])]
    return all(c.ok for c in checks), checks


def readiness_document(ok: bool, checks: list[Check]) -> dict:
    return {"status": "ok" if ok else "unavailable", "checks": [asdict(c) for c in checks]}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    ok, checks = readiness()
    return JsonResponse(readiness_document(ok, checks), status=200 if ok else 503)


# --- the workers' engine heartbeat --------------------------------------------------------


def engine_report_publish(node: str, *, ttl_s: int) -> Check:
    """Ping this worker's engine and publish the result under drydock:engine:<node>."""
    check = check_engine_direct()
    document = {"ok": check.ok, "detail": check.detail, "at": int(time.time())}
    client = _broker()
    try:
        client.set(ENGINE_KEY_PREFIX + node, json.dumps(document), ex=ttl_s)
    finally:
        client.close()
    return check


def engine_report_withdraw(node: str) -> None:
    """A worker that stops says so at once, rather than letting its report expire."""
    try:
        client = _broker()
        try:
            client.delete(ENGINE_KEY_PREFIX + node)
        finally:
            client.close()
    except redis.RedisError as error:
        logger.warning("engine report of %s not withdrawn: %s", node, error)


def engine_heartbeat_start(node: str, *, interval_s: int) -> threading.Event:
    """A daemon thread publishing this worker's engine status; set the event to stop it."""
    stop = threading.Event()
    last_ok: list[bool | None] = [None]

    def beat() -> None:
        while True:
            try:
                check = engine_report_publish(node, ttl_s=3 * interval_s)
                if check.ok != last_ok[0]:  # log changes, not every beat
                    log = logger.info if check.ok else logger.warning
                    log("engine %s for %s: %s", "reachable" if check.ok else "unreachable",
                        node, check.detail, extra={"engine_ok": check.ok})  # fmt: skip
                    last_ok[0] = check.ok
            except redis.RedisError as error:
                logger.warning("engine heartbeat of %s not published: %s", node, error)
            if stop.wait(interval_s):
                engine_report_withdraw(node)
                return

    threading.Thread(target=beat, name="engine-heartbeat", daemon=True).start()
    return stop


# --- container healthchecks: python -m drydock.health worker|beat|ready ----------------------

BEAT_SCHEDULE = "/tmp/celerybeat-schedule"  # beat's -s; beat saves it every 3 minutes
BEAT_STALE_S = 300


def worker_alive() -> Check:
    """This container's Celery worker (`-n worker@%h`) answers a ping through the broker."""

    def probe() -> str:
        from drydock.celery import app

        node = f"worker@{socket.gethostname()}"
        if not app.control.ping(destination=[node], timeout=3):
            raise RuntimeError(f"{node} did not answer a ping within 3 s")
        return node

    return _timed("worker", probe)


def beat_alive(schedule: str = BEAT_SCHEDULE) -> Check:
    """Beat keeps saving its schedule file; a stale one means beat stopped ticking."""

    def probe() -> str:
        files = list(Path(schedule).parent.glob(Path(schedule).name + "*"))
        if not files:
            raise RuntimeError(f"no schedule file {schedule} yet")
        age = time.time() - max(f.stat().st_mtime for f in files)
        if age > BEAT_STALE_S:
            raise RuntimeError(f"schedule not saved for {age:.0f} s")
        return f"schedule saved {age:.0f} s ago"

    return _timed("beat", probe)


def main(argv: list[str]) -> int:
    """Exit 0 when healthy; one JSON line either way (Docker keeps it in `docker inspect`)."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drydock.settings.production")
    django.setup()
    what = argv[0] if argv else "ready"
    if what == "worker":
        checks = [check_broker(), worker_alive()]
    elif what == "beat":
        checks = [
            check_broker(),
            beat_alive(os.environ.get("DRYDOCK_BEAT_SCHEDULE", BEAT_SCHEDULE)),
        ]
    elif what == "ready":
        checks = readiness(engine="direct")[1]
    else:
        print(f"usage: python -m drydock.health worker|beat|ready (not {what!r})", file=sys.stderr)
        return 2
    ok = all(c.ok for c in checks)
    print(json.dumps(readiness_document(ok, checks)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
