"""The runtime behaviour the deployment relies on, in milliseconds: /healthz, /readyz,
JSON logs, metrics, and the production settings' secret files."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from drydock import health, metrics
from drydock.logging import JsonFormatter

REPO = Path(__file__).resolve().parents[2]


def _ok(name: str) -> health.Check:
    return health.Check(name, True, "fine", 1)


def test_healthz_touches_nothing(client, monkeypatch):
    monkeypatch.setattr(health, "check_database", lambda: pytest.fail("liveness checked the DB"))
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("failing", ["database", "broker", "engine"])
def test_readyz_is_503_when_any_check_fails(client, settings, monkeypatch, failing):
    settings.DRYDOCK_READYZ_ENGINE = "workers"
    for name, attribute in (("database", "check_database"), ("broker", "check_broker"),
                            ("engine", "check_engine_via_workers")):  # fmt: skip
        check = health.Check(name, False, "down", 1) if name == failing else _ok(name)
        monkeypatch.setattr(health, attribute, lambda check=check: check)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert {c["name"]: c["ok"] for c in body["checks"]} == {
        "database": failing != "database", "broker": failing != "broker",
        "engine": failing != "engine",
    }  # fmt: skip


def test_readyz_is_200_with_the_database_up_and_no_engine_check(db, client, settings, monkeypatch):
    settings.DRYDOCK_READYZ_ENGINE = "off"
    monkeypatch.setattr(health, "check_broker", lambda: _ok("broker"))
    response = client.get("/readyz")
    assert response.status_code == 200
    assert [c["name"] for c in response.json()["checks"]] == ["database", "broker"]


def test_the_engine_check_reads_the_workers_reports(monkeypatch):
    monkeypatch.setattr(health, "engine_reports", lambda: {
        "worker@a": {"ok": False, "detail": "engine unreachable"},
        "worker@b": {"ok": True, "detail": "engine 20.10"},
    })  # fmt: skip
    check = health.check_engine_via_workers()
    assert check.ok and "1 of 2 worker(s): worker@b" in check.detail
    monkeypatch.setattr(health, "engine_reports", lambda: {})
    check = health.check_engine_via_workers()
    assert not check.ok and health.NO_WORKER_REPORT in check.detail


def test_a_failing_probe_becomes_a_failed_check_never_an_exception():
    def broken() -> str:
        raise ConnectionError("refused")

    check = health._timed("broker", broken)
    assert (check.ok, check.detail) == (False, "ConnectionError: refused")


def test_the_beat_check_wants_a_recently_saved_schedule(tmp_path):
    schedule = tmp_path / "celerybeat-schedule"
    assert not health.beat_alive(str(schedule)).ok
    (tmp_path / "celerybeat-schedule.db").write_text("")
    assert health.beat_alive(str(schedule)).ok


def test_json_logs_are_one_object_per_line_with_extras_and_tracebacks():
    formatter = JsonFormatter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("drydock.test").makeRecord(
            "drydock.test", logging.ERROR, __file__, 1, "grading %s failed", ("42",),
            sys.exc_info(), extra={"submission": 42},
        )  # fmt: skip
    line = formatter.format(record)
    assert "\n" not in line
    document = json.loads(line)
    assert document["level"] == "ERROR" and document["logger"] == "drydock.test"
    assert document["message"] == "grading 42 failed" and document["submission"] == 42
    assert "ValueError: boom" in document["exc_info"] and document["time"].endswith("+00:00")


def test_gunicorn_access_records_become_fields():
    record = logging.LogRecord("gunicorn.access", logging.INFO, "", 0, "%(m)s %(U)s", (), None)
    record.args = {"m": "GET", "U": "/healthz", "s": "200", "D": 812, "h": "10.0.0.1", "q": ""}
    document = json.loads(JsonFormatter().format(record))
    assert document["message"] == "GET /healthz"
    assert (document["method"], document["path"], document["status"]) == ("GET", "/healthz", "200")
    assert document["duration_us"] == 812 and "query" not in document


def test_a_grading_is_counted_and_its_stages_observed():
    def sample(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = sample("drydock_grading_results_total", status="passed")
    builds = sample("drydock_grading_stage_seconds_count", stage="build")
    metrics.grading_observe(
        status="passed",
        result={"timings": {"static_ms": 300, "build_ms": 12000, "run_ms": 0, "total_ms": 20000}},
    )
    assert sample("drydock_grading_results_total", status="passed") == before + 1
    assert sample("drydock_grading_stage_seconds_count", stage="build") == builds + 1
    metrics.grading_observe(status="delayed", result=None)  # Drydock's own outcome: no timings
    assert sample("drydock_grading_results_total", status="delayed") >= 1


def test_metrics_page_has_request_latency_and_queue_lengths(client, monkeypatch):
    monkeypatch.setattr(metrics, "queue_lengths", lambda queues: {q: 3 for q in queues})
    client.get("/healthz")
    page = client.get("/metrics").content.decode()
    assert 'celery_queue_length{queue_name="grading"} 3.0' in page
    assert 'celery_queue_length{queue_name="celery"} 3.0' in page
    assert "django_http_requests_latency_seconds_by_view_method_bucket" in page


def test_production_reads_every_credential_from_files(tmp_path):
    """In a subprocess: settings modules are imported once per process."""
    for name, value in (("key", "k" * 50), ("db", "p@ss:w/rd"), ("redis", "r/ed:is")):
        (tmp_path / name).write_text(value + "\n")
    code = (
        "from django.conf import settings as s; "
        "print(s.SECRET_KEY[:3], s.DATABASES['default']['PASSWORD'], s.CELERY_BROKER_URL, "
        "s.LOGGING['handlers']['console']['formatter'])"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "drydock.settings.production",
        "DJANGO_SECRET_KEY_FILE": str(tmp_path / "key"),
        "DATABASE_URL": "postgres://drydock@db:5432/drydock",
        "DATABASE_PASSWORD_FILE": str(tmp_path / "db"),
        "DRYDOCK_BROKER_URL": "redis://redis:6379/0",
        "CELERY_BROKER_PASSWORD_FILE": str(tmp_path / "redis"),
    }
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=REPO, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.split() == [
        "kkk", "p@ss:w/rd", "redis://:r%2Fed%3Ais@redis:6379/0", "json",
    ]  # fmt: skip
