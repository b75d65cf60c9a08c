"""Settings come from the environment with safe production defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _settings(module: str, **env: str) -> subprocess.CompletedProcess:
    code = (
        "import django, json; from django.conf import settings; django.setup();"
        "print(json.dumps({'debug': settings.DEBUG, 'engine': settings.DATABASES['default']['ENGINE'],"
        "'name': str(settings.DATABASES['default']['NAME']), 'secure': getattr(settings, 'SESSION_COOKIE_SECURE', False)}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**clean, "DJANGO_SETTINGS_MODULE": module, **env},
    )  # fmt: skip


def test_production_refuses_to_start_without_a_secret_key():
    result = _settings("drydock.settings.production")
    assert result.returncode != 0
    assert (
        "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) is required in production" in result.stderr
    )


def test_production_reads_the_key_from_a_secret_file_and_postgres_from_database_url(tmp_path):
    key = tmp_path / "key"
    key.write_text("from-a-docker-secret\n")
    result = _settings(
        "drydock.settings.production",
        DJANGO_SECRET_KEY_FILE=str(key),
        DATABASE_URL="postgres://drydock:pw@db:5432/drydock",
    )
    assert result.returncode == 0, result.stderr
    assert '"debug": false' in result.stdout
    assert '"engine": "django.db.backends.postgresql"' in result.stdout
    assert '"secure": true' in result.stdout


def test_embedded_default_is_sqlite_with_debug_off():
    result = _settings("drydock.settings.local")
    assert result.returncode == 0, result.stderr
    assert '"debug": false' in result.stdout and "sqlite3" in result.stdout


@pytest.mark.django_db
def test_instructor_account_is_created_once_with_printed_credentials(monkeypatch, capsys):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    monkeypatch.setenv("DRYDOCK_INSTRUCTOR_USERNAME", "prof")
    monkeypatch.setenv("DRYDOCK_INSTRUCTOR_PASSWORD", "s3cret-Pass")
    call_command("ensure_instructor")
    call_command("ensure_instructor")
    assert "instructor: prof / s3cret-Pass" in capsys.readouterr().out
    user = get_user_model().objects.get(username="prof")
    assert user.is_staff and user.is_superuser and user.check_password("s3cret-Pass")
