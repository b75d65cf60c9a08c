"""The embedded defaults: SQLite, a local Redis, DEBUG off unless DJANGO_DEBUG=1.

Outside debug a SECRET_KEY is required; when none is given, one is generated once
into var/secret_key (mode 0600) so a single-machine install needs no configuration.
"""

from __future__ import annotations

import secrets

from .base import *  # noqa: F403
from .base import DEBUG, VAR_DIR, env


def _persisted_secret_key() -> str:
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env("DJANGO_SECRET_KEY", default="") or (
    "django-insecure-local-debug-only" if DEBUG else _persisted_secret_key()
)
