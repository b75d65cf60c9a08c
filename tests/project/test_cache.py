"""The cache and the sessions live in Redis, and an outage of Redis costs speed, not pages."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from drydock.cache import ForgivingRedisCache

ROOT = Path(__file__).resolve().parents[2]


def _cache_settings(**env: str) -> dict:
    code = (
        "import django, json; from django.conf import settings; django.setup();"
        "print(json.dumps({'backend': settings.CACHES['default']['BACKEND'],"
        "'location': settings.CACHES['default']['LOCATION'], 'sessions': settings.SESSION_ENGINE}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DRYDOCK_"))}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**clean, "DJANGO_SETTINGS_MODULE": "drydock.settings.local", "DJANGO_DEBUG": "1",
             **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_cache_defaults_to_another_database_of_the_brokers_redis_and_holds_sessions():
    found = _cache_settings(CELERY_BROKER_URL="redis://broker:6379/0")
    assert found == {
        "backend": "drydock.cache.ForgivingRedisCache",
        "location": "redis://broker:6379/1",
        "sessions": "django.contrib.sessions.backends.cached_db",
    }
    assert _cache_settings(CELERY_BROKER_URL="redis://b:6379/1")["location"] == "redis://b:6379/2"
    own = _cache_settings(DRYDOCK_CACHE_URL="redis://cache:6380/3")
    assert own["location"] == "redis://cache:6380/3"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_with_redis_down_the_cache_is_empty_not_an_error():
    down = ForgivingRedisCache(f"redis://127.0.0.1:{_free_port()}/0", {})
    assert down.get("k") is None and down.get("k", "fallback") == "fallback"
    down.set("k", 1)
    assert down.add("k", 1) is False and down.get_many(["k"]) == {}
    assert down.get_or_set("k", lambda: 42) == 42


def test_the_real_redis_keeps_values_between_clients():
    location = os.environ.get("DRYDOCK_TEST_REDIS", "redis://127.0.0.1:6379/1")
    prefix = f"test-{uuid.uuid4().hex}"
    first = ForgivingRedisCache(location, {"KEY_PREFIX": prefix})
    if first.add("probe", 1, 30) is False and first.get("probe") is None:
        pytest.skip("no Redis at " + location)
    second = ForgivingRedisCache(location, {"KEY_PREFIX": prefix})
    assert second.get("probe") == 1
    first.incr("probe")
    assert second.get("probe") == 2
    first.delete("probe")


@pytest.mark.django_db
def test_a_signed_in_request_reads_its_session_from_the_cache(client, django_user_model):
    user = django_user_model.objects.create_user(username="reader", password="pw-reader-123")
    client.force_login(user)
    client.get("/accounts/login/")
    with CaptureQueriesContext(connection) as captured:
        assert "reader" in client.get("/accounts/login/").content.decode()
    assert not [q for q in captured.captured_queries if "django_session" in q["sql"]]
