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
