"""gunicorn's settings in the Drydock image: https://docs.gunicorn.org/en/stable/settings.html

SIGTERM is a graceful stop: gunicorn stops accepting, lets requests in flight finish for up to
`graceful_timeout` seconds, then exits (compose's stop_grace_period is longer than that).
Logs are JSON lines on stdout (drydock.logging.JsonFormatter), access log included.
"""

import os

from prometheus_client import multiprocess

bind = f"0.0.0.0:{os.environ.get('DRYDOCK_HTTP_PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
keepalive = 5
worker_tmp_dir = "/dev/shm"  # the workers' heartbeat files, off the read-only filesystem
# X-Forwarded-* are trusted from the reverse proxy (FORWARDED_ALLOW_IPS, gunicorn's own variable).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(D)sus'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "drydock.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}


def child_exit(server, worker):
    """A dead worker's live gauges must not be summed any more (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
