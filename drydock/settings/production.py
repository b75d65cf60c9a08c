"""Production: secrets from the environment (or *_FILE), HTTPS cookies, nothing implicit."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env


def _secret(name: str) -> str:
    """Read NAME, or the file named by NAME_FILE (Docker secrets)."""
    if path := env(f"{name}_FILE", default=""):
        return Path(path).read_text().strip()
    value = env(name, default="")
    if not value:
        raise ImproperlyConfigured(f"{name} (or {name}_FILE) is required in production")
    return value


DEBUG = False
SECRET_KEY = _secret("DJANGO_SECRET_KEY")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0)

# --- Deployment (issue 7): JSON logs by default, credentials from secret files ----------------
from urllib.parse import quote, urlsplit, urlunsplit  # noqa: E402

from .base import CELERY_BROKER_URL, DATABASES, LOGGING  # noqa: E402

if env("DJANGO_LOG_FORMAT", default="json") == "json":
    LOGGING["handlers"]["console"]["formatter"] = "json"
# DATABASE_URL and DRYDOCK_BROKER_URL name the servers; their passwords come from files
# (Docker secrets), so no URL in the environment or in `docker inspect` holds a credential.
if path := env("DATABASE_PASSWORD_FILE", default=""):
    DATABASES["default"]["PASSWORD"] = Path(path).read_text().strip()
# Celery reads a CELERY_BROKER_URL environment variable *before* this setting, so a broker URL
# that still needs its password file comes as DRYDOCK_BROKER_URL (docker/compose.yaml).
CELERY_BROKER_URL = env("DRYDOCK_BROKER_URL", default=CELERY_BROKER_URL)
if path := env("CELERY_BROKER_PASSWORD_FILE", default=""):
    _broker = urlsplit(CELERY_BROKER_URL)
    _password = quote(Path(path).read_text().strip(), safe="")
    _netloc = f"{_broker.username or ''}:{_password}@{_broker.hostname}"
    _netloc += f":{_broker.port}" if _broker.port else ""
    CELERY_BROKER_URL = urlunsplit(_broker._replace(netloc=_netloc))
# --- end of deployment settings ---------------------------------------------------------------
