"""Settings for the test suite: fast hashing, plain static storage, an isolated database."""

from __future__ import annotations

from .base import *  # noqa: F403

SECRET_KEY = "test-only-not-secret"
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Serve static files straight from the finders; no collectstatic needed in tests.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Each test process has its own in-memory cache: pages cached under a content version must not
# leak between test databases (tests/project checks the Redis configuration of base).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
