"""Structured logs: one JSON object per line on stdout, for Docker's log drivers to ship.

Used by Django's LOGGING (settings, `DJANGO_LOG_FORMAT=json`), gunicorn's error and access
logs (docker/platform/gunicorn.conf.py) and, through Django's logging, the Celery worker and
beat. Keys follow the common convention of log shippers: `time` (RFC 3339, UTC), `level`,
`logger`, `message`; anything passed with `extra=` becomes a key of its own; a traceback
becomes `exc_info`. A record never fails to format: values JSON cannot encode become strings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_RESERVED = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
# gunicorn's access log record carries its atoms as a mapping: these become keys of their own.
_ACCESS_ATOMS = {
    "h": "remote_addr", "m": "method", "U": "path", "q": "query", "s": "status",
    "B": "bytes", "D": "duration_us", "a": "user_agent",
}  # fmt: skip


class JsonFormatter(logging.Formatter):
    """`{"time": ..., "level": ..., "logger": ..., "message": ..., **extra}` on one line.

    `static_fields` are added to every record (e.g. {"service": "web"}).
    """

    def __init__(self, *args: Any, static_fields: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.static_fields = dict(static_fields or {})

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self.static_fields,
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                document[key] = value
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            for atom, key in _ACCESS_ATOMS.items():
                if record.args.get(atom) not in (None, "-", ""):
                    document[key] = record.args[atom]
        if record.levelno >= logging.WARNING:
            document["where"] = f"{record.pathname}:{record.lineno}"
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            document["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str, ensure_ascii=False)
