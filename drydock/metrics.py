"""Prometheus metrics: requests (django-prometheus), gradings and the queues.

- Web: django-prometheus's middleware measures request latency
  (`django_http_requests_latency_seconds_by_view_method`...); `/metrics` adds the queue
  lengths, read from Redis at scrape time in the Celery exporter's naming
  (`celery_queue_length{queue_name="grading"}`).
- Worker: each grading observes `drydock_grading_stage_seconds{stage}` (static, build, run,
  total, from the grader's own timings) and counts `drydock_grading_results_total{status}`
  (passed/failed/rejected/error, or Drydock's own outcomes: delayed, timeout, skipped...).
  The worker serves them on DRYDOCK_WORKER_METRICS_PORT (/metrics, /healthz, /readyz).

gunicorn workers and Celery's prefork children are separate processes, so both run
prometheus_client in multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (the image sets it
and empties it at start): https://prometheus.github.io/client_python/multiprocess/
The Celery hooks are connected by importing this module in the worker (CELERY_IMPORTS).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
from celery import signals
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

GRADE_TASK = "exercises.tasks.grade_submission"
STAGES = ("static", "build", "run", "total")
# kombu's Redis transport keeps priorities 3, 6 and 9 of a queue in lists of their own
PRIORITY_SEPARATOR, PRIORITY_STEPS = "\x06\x16", (3, 6, 9)

GRADING_SECONDS = Histogram(
    "drydock_grading_stage_seconds",
    "Time spent in each stage of a grading, from the grader's timings.",
    ["stage"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600),
)
GRADING_RESULTS = Counter(
    "drydock_grading_results_total",
    "Finished grading tasks by outcome (the submission's status, or Drydock's own outcome).",
    ["status"],
)


# --- what a scrape reads ----------------------------------------------------------------------


def registry() -> CollectorRegistry:
    """Every process's metrics in multiprocess mode, else this process's own."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        return combined
    return REGISTRY


class QueueLengthCollector:
    """`celery_queue_length{queue_name}`: messages waiting in each queue, read at scrape time."""

    def __init__(self, queues: tuple[str, ...]) -> None:
        self.queues = queues

    def collect(self):
        family = GaugeMetricFamily(
            "celery_queue_length", "Messages waiting in the queue.", labels=["queue_name"]
        )
        try:
            lengths = queue_lengths(self.queues)
        except redis.RedisError as error:
            logger.warning("queue lengths not read: %s", error)
            return
        for queue, length in lengths.items():
            family.add_metric([queue], length)
        yield family


def queue_lengths(queues: tuple[str, ...]) -> dict[str, int]:
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1
    )
    try:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            pipe.llen(queue)
            for step in PRIORITY_STEPS:
                pipe.llen(f"{queue}{PRIORITY_SEPARATOR}{step}")
        counts = pipe.execute()
    finally:
        client.close()
    per_queue = 1 + len(PRIORITY_STEPS)
    return {q: sum(counts[i * per_queue : (i + 1) * per_queue]) for i, q in enumerate(queues)}


def _queues() -> tuple[str, ...]:
    routed = {route.get("queue") for route in settings.CELERY_TASK_ROUTES.values()}
    return tuple(sorted({settings.CELERY_TASK_DEFAULT_QUEUE, *routed} - {None}))


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The web process's /metrics (the front proxy must not route it to the internet)."""
    queues = CollectorRegistry(auto_describe=False)
    queues.register(QueueLengthCollector(_queues()))
    body = generate_latest(registry()) + generate_latest(queues)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


# --- the worker -------------------------------------------------------------------------------


def grading_observe(*, status: str, result: dict[str, Any] | None) -> None:
    """Count one finished grading task; observe its stage timings when it has a result."""
    GRADING_RESULTS.labels(status=status).inc()
    timings = (result or {}).get("timings") or {}
    for stage in STAGES:
        milliseconds = timings.get(f"{stage}_ms")
        if milliseconds:  # 0 = the stage did not run (static-only, rejected...)
            GRADING_SECONDS.labels(stage=stage).observe(milliseconds / 1000)


@signals.task_postrun.connect
def _grading_finished(sender=None, args=None, kwargs=None, retval=None, state=None, **_):
    if getattr(sender, "name", None) != GRADE_TASK:
        return
    status = retval if state == "SUCCESS" and isinstance(retval, str) else str(state).lower()
    result = None
    submission_id = (args or [None])[0] or (kwargs or {}).get("submission_id")
    if state == "SUCCESS" and submission_id is not None:
        from exercises.models import Submission  # the app registry is ready in a task

        result = (
            Submission.objects.filter(pk=submission_id).values_list("result", flat=True).first()
        )
    try:
        grading_observe(status=status, result=result)
    except Exception:  # metrics must never fail a grading
        logger.exception("grading metrics not recorded")


@signals.worker_process_shutdown.connect
def _child_exit(pid=None, **_):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and pid:
        multiprocess.mark_process_dead(pid)


class _WorkerEndpoint(BaseHTTPRequestHandler):
    """/metrics, /healthz and /readyz (this worker's own engine) of a Celery worker."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        from .health import readiness, readiness_document

        if self.path == "/metrics":
            self._send(200, generate_latest(registry()), CONTENT_TYPE_LATEST)
        elif self.path == "/healthz":
            self._send(200, b'{"status": "ok"}', "application/json")
        elif self.path == "/readyz":
            try:
                ok, checks = readiness(engine="direct")
            finally:
                from django.db import connections

                connections.close_all()  # this thread's connection
            body = json.dumps(readiness_document(ok, checks)).encode()
            self._send(200 if ok else 503, body, "application/json")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


_worker_state: dict[str, Any] = {}


@signals.worker_ready.connect
def _worker_ready(sender=None, **_):
    """In the worker's main process: the engine heartbeat and the metrics endpoint."""
    from .health import engine_heartbeat_start

    node = getattr(sender, "hostname", None) or "worker"
    if settings.DRYDOCK_ENGINE_HEARTBEAT_S > 0:
        _worker_state["heartbeat"] = engine_heartbeat_start(
            node, interval_s=settings.DRYDOCK_ENGINE_HEARTBEAT_S
        )
    port = settings.DRYDOCK_WORKER_METRICS_PORT
    if port:
        try:
            server = ThreadingHTTPServer(("0.0.0.0", port), _WorkerEndpoint)  # noqa: S104
        except OSError as error:
            logger.warning("worker metrics endpoint not started on port %s: %s", port, error)
            return
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        _worker_state["server"] = server
        logger.info("worker metrics on :%s/metrics", port)


@signals.worker_shutdown.connect
def _worker_shutdown(**_):
    if heartbeat := _worker_state.pop("heartbeat", None):
        heartbeat.set()  # the thread withdraws this worker's engine report
    if server := _worker_state.pop("server", None):
        server.shutdown()
