"""Pages that are the same for every anonymous visitor, rendered once per content version.

A class of fifty opening a lesson at once must not render it fifty times. An anonymous lesson
or course page holds nothing of the visitor (no CSRF token: htmx reads it from the cookie, and
only signed-in pages have forms), so its HTML is cached under the page's path and the *content
version*, a number that every instructor save bumps (course/signals.py). Nothing is ever
deleted: a bump makes every older entry unreachable, and entries expire on their own.

Two levels: the shared cache (Redis) holds the HTML for every web worker; each worker also keeps
the pages of the current version in memory. `SharedPageMiddleware` serves those from memory to
requests without a session, before sessions, CSRF and URL resolution run: a page costs about as
much as a static file. It reads the version from Redis at most every VERSION_CHECK_S seconds, so
another worker shows an instructor's save within that time (the saving worker at once).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers

T = TypeVar("T")
VERSION_KEY = "course:content-version"
PAGE_KEY = "course:page:{version}:{path}"
PAGE_TTL_S = 24 * 3600
LOCAL_MAX_PAGES = 256  # per worker: the lecture has a few dozen pages
VERSION_CHECK_S = 1.0


@dataclass(frozen=True)
class CachedPage:
    html: bytes
    etag: str  # quoted, strong: the page is the same byte for byte


_local: dict[tuple[int, str], Any] = {}  # CachedPage, or a shared_value()
_local_lock = threading.Lock()
_version_seen: tuple[float, int] = (0.0, 0)  # (time.monotonic() when read, version)


def content_version() -> int:
    """The current content version; a fresh cache starts from a number never used before."""
    global _version_seen
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, time.time_ns(), timeout=None)
        version = cache.get(VERSION_KEY) or 0  # 0: Redis is down, nothing is kept anyway
    _version_seen = (time.monotonic(), version)
    return version


def _recent_version() -> int:
    seen_at, version = _version_seen
    if time.monotonic() - seen_at < VERSION_CHECK_S:
        return version
    return content_version()


def content_version_bump() -> None:
    """Make every cached page stale: now, and again once the saving transaction commits (a
    page rendered from the old rows between the two would otherwise outlive the save)."""

    def bump() -> None:
        global _version_seen
        _version_seen = (0.0, 0)  # this worker reads the new version on its next request
        try:
            cache.incr(VERSION_KEY)
        except ValueError:  # no version yet: the next reader starts a new one
            cache.add(VERSION_KEY, time.time_ns(), timeout=None)

    bump()
    transaction.on_commit(bump)


def is_shared(request: HttpRequest) -> bool:
    """Whether the page this request gets is the one every anonymous visitor gets."""
    return (
        request.method in ("GET", "HEAD")
        and not request.user.is_authenticated
        and "messages" not in request.COOKIES  # a flash message is for this visitor only
    )


def shared_page(request: HttpRequest, render: Callable[[], HttpResponse]) -> HttpResponse:
    """The anonymous page at `request.path`: cached, with headers that let proxies keep it."""
    version = content_version()
    page = _page_get(version, request.path)
    if page is None:
        response = render()
        if (
            response.status_code != 200
            or "private" in response.get("Cache-Control", "")  # the view says: not shared
            or not version  # no cache (Redis down)
        ):
            return response if response.has_header("Cache-Control") else _public(response)
        page = _page_store(version, request.path, response.content)
    return page_response(request, page)


def shared_value(name: str, compute: Callable[[], T]) -> T:
    """A value the same for everybody (an exercise and its checklist...), computed once per
    content version and kept like the pages. None is never kept."""
    version = _recent_version()
    key = f"value:{name}"
    value = _local.get((version, key))
    if value is None and version:
        value = cache.get(PAGE_KEY.format(version=version, path=key))
    if value is None:
        value = compute()
        if value is not None and version:
            cache.set(PAGE_KEY.format(version=version, path=key), value, PAGE_TTL_S)
    if value is not None and version:
        _remember(version, key, value)
    return value


def page_response(request: HttpRequest, page: CachedPage) -> HttpResponse:
    response = _public(HttpResponse(page.html))
    response["ETag"] = page.etag
    return get_conditional_response(request, etag=page.etag, response=response)


def _public(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=settings.DRYDOCK_PAGE_MAX_AGE_S)
    patch_vary_headers(response, ["Cookie"])  # a signed-in visitor gets another page
    return response


def local_page(request: HttpRequest) -> CachedPage | None:
    """The page this worker holds for a request without a session (None: let the view answer)."""
    if (
        request.method != "GET"
        or settings.SESSION_COOKIE_NAME in request.COOKIES
        or "messages" in request.COOKIES
    ):
        return None
    version = _recent_version()
    page = _local.get((version, request.path)) if version else None
    return page if isinstance(page, CachedPage) else None


class SharedPageMiddleware:
    """Serve an anonymous page this worker already holds before sessions, CSRF and URL
    resolution run (placed after WhiteNoise, as if the page were a static file)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        page = local_page(request)
        if page is None:
            return self.get_response(request)
        response = page_response(request, page)
        response["X-Frame-Options"] = settings.X_FRAME_OPTIONS  # its middleware is skipped
        return response


def _page_get(version: int, path: str) -> CachedPage | None:
    page = _local.get((version, path))
    if page is None and version:
        page = cache.get(PAGE_KEY.format(version=version, path=path))
        if page is not None:
            _remember(version, path, page)
    return page


def _page_store(version: int, path: str, html: bytes) -> CachedPage:
    page = CachedPage(html=html, etag=f'"{hashlib.sha256(html).hexdigest()[:32]}"')
    cache.set(PAGE_KEY.format(version=version, path=path), page, PAGE_TTL_S)
    _remember(version, path, page)
    return page


def _remember(version: int, path: str, page: object) -> None:
    with _local_lock:
        for key in [key for key in _local if key[0] != version]:
            del _local[key]
        if len(_local) >= LOCAL_MAX_PAGES:
            _local.clear()
        _local[(version, path)] = page
