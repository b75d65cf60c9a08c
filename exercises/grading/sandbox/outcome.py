"""The outcome of one build, whichever builder ran it (classic `build`, or `buildkit`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BuildOutcome:
    ok: bool
    image_id: str | None = None
    error: str | None = None  # a learner-visible one-line reason
    log: str = ""
    duration_ms: int = 0
    timed_out: bool = False
    pids_limited: bool = False
