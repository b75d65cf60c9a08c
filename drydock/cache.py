"""Django's Redis cache, forgiving: when Redis is down, the cache is empty, not an error page.

Everything Drydock caches can be recomputed (rendered pages, the health banner) or is also in
the database (sessions, `cached_db`), so an outage of Redis costs speed, never a page: a read
is a miss, a write is dropped, and each is logged once per call site as a warning.
"""

from __future__ import annotations

import logging
from functools import wraps
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError, TimeoutError

logger = logging.getLogger(__name__)
UNAVAILABLE = (ConnectionError, TimeoutError, OSError)


def _forgiving(method_name: str, fallback: Any):
    method = getattr(RedisCache, method_name)

    @wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except UNAVAILABLE as error:
            logger.warning("cache unavailable (%s): %s", method_name, error)
            if method_name == "get" and len(args) > 1:
                return args[1]  # the caller's default
            return kwargs.get("default", fallback)

    return call


class ForgivingRedisCache(RedisCache):
    get = _forgiving("get", None)
    get_many = _forgiving("get_many", {})
    set = _forgiving("set", None)
    set_many = _forgiving("set_many", [])
    add = _forgiving("add", False)
    touch = _forgiving("touch", False)
    delete = _forgiving("delete", False)
    delete_many = _forgiving("delete_many", None)
    has_key = _forgiving("has_key", False)
    incr = _forgiving("incr", None)
    clear = _forgiving("clear", None)
