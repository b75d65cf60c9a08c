"""Settings shared by every environment; everything that varies comes from the environment.

See https://docs.djangoproject.com/en/5.2/ref/settings/ and django-environ's docs.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"  # runtime state of the embedded defaults (SQLite, logs, keys)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "accounts",
    "course",
    "exercises",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "course.page_cache.SharedPageMiddleware",  # cached anonymous pages, served like static files
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "drydock.urls"
WSGI_APPLICATION = "drydock.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite is the embedded default; production passes DATABASE_URL=postgres://...
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'drydock.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout so the web server and workers can share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "course:home"
LOGOUT_REDIRECT_URL = "course:home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

SESSION_COOKIE_HTTPONLY = True
# htmx reads the token from the cookie (static/js/csrf.js), so that anonymous pages hold no
# per-visitor token and a cache or a proxy can serve them to everybody.
# https://docs.djangoproject.com/en/5.2/howto/csrf/#setting-the-token-on-the-ajax-request
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Celery with Redis as the broker (https://docs.celeryq.dev/en/stable/django/).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]


# The cache (rendered anonymous pages, sessions, the health banner) on Redis: DRYDOCK_CACHE_URL,
# else the broker's Redis with a database of its own. A Redis outage degrades to no cache
# (drydock/cache.py), never to an error page.
# https://docs.djangoproject.com/en/5.2/topics/cache/#redis
def _cache_url_from_broker(broker_url: str) -> str:
    parts = urlsplit(broker_url)
    broker_db = parts.path.strip("/") or "0"
    return urlunsplit(parts._replace(path="/2" if broker_db == "1" else "/1"))


DRYDOCK_CACHE_URL = env("DRYDOCK_CACHE_URL", default="") or _cache_url_from_broker(
    CELERY_BROKER_URL
)
CACHES = {
    "default": {
        "BACKEND": "drydock.cache.ForgivingRedisCache",
        "LOCATION": DRYDOCK_CACHE_URL,
        "KEY_PREFIX": "drydock",
        "TIMEOUT": 3600,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}
# Sessions read from the cache, written through to the database: a signed-in request costs no
# session query. https://docs.djangoproject.com/en/5.2/topics/http/sessions/#using-cached-sessions
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Anonymous lesson and course pages: rendered once per content version, then kept this long
# by browsers and proxies (course/page_cache.py).
DRYDOCK_PAGE_MAX_AGE_S = env.int("DRYDOCK_PAGE_MAX_AGE_S", default=60)

# Course content loaded by `manage.py load_course`.
COURSE_CONTENT_DIR = BASE_DIR / "course" / "content"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}
EXERCISE_ASSETS_DIR = BASE_DIR / "exercises" / "assets"

# --- Grading: Celery workers, limits, the janitor and submissions (issue 4) -----------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# Grading runs on its own queue so that a backlog never delays the janitor (default queue).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {"exercises.tasks.grade_submission": {"queue": "grading"}}
# Acknowledge after the task ran, requeue when a worker process dies, fetch one task at a time:
# a grading is long, so a worker must never sit on a backlog it cannot start.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CONCURRENCY = env.int("DRYDOCK_WORKERS", default=2)
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("DRYDOCK_WORKER_MAX_TASKS_PER_CHILD", default=100)
# Time limits of one grading (static + build + run + probes; the grader's own sandbox limits
# are lower, so a learner's slow build becomes a result, and these only catch Drydock's hangs).
DRYDOCK_GRADING_SOFT_TIME_LIMIT = env.int("DRYDOCK_GRADING_SOFT_TIME_LIMIT", default=600)
DRYDOCK_GRADING_TIME_LIMIT = env.int("DRYDOCK_GRADING_TIME_LIMIT", default=660)
DRYDOCK_GRADING_MAX_RETRIES = env.int("DRYDOCK_GRADING_MAX_RETRIES", default=5)
DRYDOCK_GRADING_RETRY_BACKOFF_MAX = env.int("DRYDOCK_GRADING_RETRY_BACKOFF_MAX", default=120)
# Redis redelivers an unacknowledged task after visibility_timeout: it must exceed the hard time
# limit (and the longest retry countdown), or a long grading would be started a second time.
# https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": max(3600, 3 * DRYDOCK_GRADING_TIME_LIMIT),
    "socket_connect_timeout": 2,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker waits for the broker forever
# Publishing from a web request gives up quickly: the submission is kept and flagged as delayed.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,
}  # fmt: skip
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The janitor (celery beat, drydock/celery.py): engine clean-up, stuck and delayed submissions.
DRYDOCK_JANITOR_INTERVAL_S = env.int("DRYDOCK_JANITOR_INTERVAL_S", default=60)
DRYDOCK_JANITOR_ENGINE_AGE_S = env.int("DRYDOCK_JANITOR_ENGINE_AGE_S", default=1800)
DRYDOCK_REQUEUE_AFTER_S = env.int("DRYDOCK_REQUEUE_AFTER_S", default=900)
DRYDOCK_QUEUE_MAX_AGE_S = env.int("DRYDOCK_QUEUE_MAX_AGE_S", default=6 * 3600)
# Submissions: "N/SECONDS" counted submissions per learner; static-only grading needs no engine.
DRYDOCK_SUBMISSION_RATE = env("DRYDOCK_SUBMISSION_RATE", default="5/600")
DRYDOCK_GRADING_STATIC_ONLY = env.bool("DRYDOCK_GRADING_STATIC_ONLY", default=False)
# The exercise page's "grading unavailable" banner pings the workers and the engine (cached);
# its engine check: "direct" (DOCKER_HOST from the web process), "workers" (their reports in
# Redis, see drydock/health.py: for deployments whose web process has no engine) or "off".
DRYDOCK_HEALTH_CACHE_S = env.int("DRYDOCK_HEALTH_CACHE_S", default=15)
DRYDOCK_HEALTH_ENGINE = env("DRYDOCK_HEALTH_ENGINE", default="direct")
# --- end of grading settings ------------------------------------------------------------------

# --- Deployment: health, JSON logs, Prometheus (issue 7; docker/, drydock/{health,metrics}.py) ---
# Request metrics: https://github.com/korfuri/django-prometheus#configuration
INSTALLED_APPS += ["django_prometheus"]
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    *MIDDLEWARE,
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
# "json": one JSON object per line (drydock/logging.py); production defaults to it.
LOGGING["formatters"]["json"] = {"()": "drydock.logging.JsonFormatter"}
if env("DJANGO_LOG_FORMAT", default="plain") == "json":
    LOGGING["handlers"]["console"]["formatter"] = "json"
# The worker imports drydock.metrics: grading metrics, its engine heartbeat and endpoint.
CELERY_IMPORTS = ["drydock.metrics"]
# /readyz's engine check: "workers" (their heartbeats in Redis), "direct" (DOCKER_HOST), "off".
DRYDOCK_READYZ_ENGINE = env("DRYDOCK_READYZ_ENGINE", default="workers")
DRYDOCK_ENGINE_HEARTBEAT_S = env.int("DRYDOCK_ENGINE_HEARTBEAT_S", default=15)  # 0: none
# A worker serves /metrics, /healthz, /readyz on this port; 0 (the default) serves nothing.
DRYDOCK_WORKER_METRICS_PORT = env.int("DRYDOCK_WORKER_METRICS_PORT", default=0)
# --- end of deployment settings ---------------------------------------------------------------
