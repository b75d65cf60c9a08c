"""Worker tests: a real Redis broker and real Celery worker subprocesses (see fixtures.py)."""

from __future__ import annotations

from .fixtures import broker, engine_ready, redis_url, start_celery  # noqa: F401  (fixtures)
