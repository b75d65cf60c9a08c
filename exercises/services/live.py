"""Feedback while typing: the static grader on the editors' current text.

Not a submission: nothing is stored and nothing counts as an attempt. Results are cached by the
files' hash (going back to a text already seen is instant) and each learner may ask at most
LIVE_CHECK_LIMIT times per LIVE_CHECK_WINDOW_S seconds (typing fires one request per pause).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from ..grading.types import CHECK_IDS
from ..selectors.findings import Finding, error_excerpt, result_findings
from .intake import SubmissionError, static_grade, submission_files_clean

LIVE_CHECK_LIMIT = 120
LIVE_CHECK_WINDOW_S = 60
RESULT_CACHE_S = 600
LIVE_CHECK_PAUSED = (
    "Live checks are paused for a minute (too many in a row); they resume by themselves."
)
LIVE_CHECK_UNAVAILABLE = "Live checks are unavailable right now; submitting still works."


class LiveCheckLimited(Exception):
    pass


@dataclass
class LiveCheck:
    status: str  # the grader's status, or "incomplete" while a required file is empty
    error: str
    checks: list[dict[str, Any]]
    findings: list[Finding]
    excerpt: dict[str, Any] | None = None
    server_ms: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "checks": self.checks,
            "passed": sum(1 for c in self.checks if c["passed"]),
            "total": len(CHECK_IDS),
            "findings": [f.to_json() for f in self.findings],
            "excerpt": self.excerpt,
            "server_ms": self.server_ms,
            "notes": self.notes,
        }


def _take_token(learner_id: int) -> None:
    key = f"exercises:live:{learner_id}:{int(time.time() // LIVE_CHECK_WINDOW_S)}"
    if cache.add(key, 1, LIVE_CHECK_WINDOW_S + 5):
        return
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, LIVE_CHECK_WINDOW_S + 5)
        return
    if count > LIVE_CHECK_LIMIT:
        raise LiveCheckLimited(LIVE_CHECK_PAUSED)


def _result(exercise_slug: str, files: dict[str, str]) -> dict[str, Any] | None:
    digest = hashlib.sha256(json.dumps([exercise_slug, files], sort_keys=True).encode()).hexdigest()
    key = f"exercises:live-result:{digest}"
    result = cache.get(key)
    if result is None:
        result = static_grade(exercise_slug=exercise_slug, files=files)
        if result is not None:
            cache.set(key, result, RESULT_CACHE_S)
    return result


def live_check(*, learner_id: int, exercise_slug: str, files: Mapping[str, str]) -> LiveCheck:
    """Grade the current text statically; raise LiveCheckLimited past the learner's limit."""
    started = time.monotonic()
    _take_token(learner_id)
    present = {name: text for name, text in files.items() if text.strip()}
    try:
        cleaned = submission_files_clean(files=present)
    except SubmissionError as error:
        return LiveCheck("incomplete", str(error), [], [])
    result = _result(exercise_slug, cleaned)
    if result is None:
        return LiveCheck("unavailable", LIVE_CHECK_UNAVAILABLE, [], [])
    excerpt = error_excerpt(result=result, files=cleaned)
    return LiveCheck(
        status=result["status"],
        error=result.get("error") or "",
        checks=[
            {"id": c["id"], "passed": bool(c.get("passed")), "summary": c.get("summary", "")}
            for c in result.get("checks") or []
        ],
        findings=result_findings(result=result, files=cleaned),
        excerpt=None
        if excerpt is None
        else {"file": excerpt.file, "line": excerpt.line, "column": excerpt.column},
        server_ms=round((time.monotonic() - started) * 1000),
        notes=[f"{p['rule']}: {p['detail']}" for p in result.get("policy") or []],
    )
