"""Full grading with a warm cache, against the bare engine work (`bare.py`) in the same run.

Drydock and the baseline alternate (baseline, Drydock, baseline, Drydock ...) after one
warm-up of each, so both see the same machine. Drydock is timed to the verdict (what the
learner waits for): the job's teardown runs after it, in a thread (`sandbox.observe`), and
is waited for outside the timing, so that it does not slow the next baseline cycle. Where Drydock's time goes comes from the
grader's own progress callback (a timestamp per stage message) and the runtime's
`phase_ms`, read by wrapping `sandbox.observe` for the bench only.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exercises.grading import grader, sandbox
from exercises.grading.types import Stage, no_progress

from .bare import ASSETS, BareStack, BareTimes
from .report import Report, median, ratio

TARGET_RATIO = 0.9
TARGET_S = 5.0

# Progress messages that open a segment of the timeline, in the order they come.
_SEGMENTS = [
    ("static", re.compile(r"^Checking your files")),
    ("build", re.compile(r"^building ")),
    ("start_db", re.compile(r"^starting db$")),
    ("db_init_probe", re.compile(r"^waiting for db to be healthy")),
    ("start_app", re.compile(r"^starting app$")),
    ("app_probe", re.compile(r"^waiting for app to be healthy")),
    ("http_probe", re.compile(r"^GET ")),
    ("collect", re.compile(r"^collecting results")),
    ("db_down_probe", re.compile(r"^checking that the health check fails without")),
]


@dataclass
class Grading:
    seconds: float
    status: str
    segments: dict[str, float]
    phase_ms: dict[str, int]
    job_id: str = ""
    teardown_s: float = 0.0  # after the verdict, off the learner's wait


@dataclass
class _Recorder:
    """The progress callback: when each stage message first appeared."""

    started: float = field(default_factory=time.perf_counter)
    marks: list[tuple[str, float]] = field(default_factory=list)

    def __call__(self, stage: Stage, message: str, log: str = "") -> None:
        for name, pattern in _SEGMENTS:
            if pattern.match(message) and name not in (m for m, _ in self.marks):
                self.marks.append((name, time.perf_counter() - self.started))
                return

    def segments(self, total: float) -> dict[str, float]:
        result: dict[str, float] = {}
        ends = [t for _, t in self.marks[1:]] + [total]
        for (name, begin), end in zip(self.marks, ends, strict=True):
            result[name] = end - begin
        return result


class _ObserveTap:
    """Wraps sandbox.observe for the bench to read `phase_ms` and the job id."""

    def __init__(self) -> None:
        self.original = sandbox.observe
        self.last: Any = None
        self.job_id = ""
        self.job_ids: list[str] = []

    def __enter__(self) -> _ObserveTap:
        def observe(plan, limits, progress=no_progress, engine=None):  # type: ignore[no-untyped-def]
            self.job_id = plan.job_id
            self.job_ids.append(plan.job_id)
            self.last = self.original(plan, limits, progress, engine)
            return self.last

        sandbox.observe = observe
        return self

    def __exit__(self, *exc: object) -> None:
        sandbox.observe = self.original


def grade_once(tap: _ObserveTap) -> Grading:
    recorder = _Recorder()
    started = time.perf_counter()
    result = grader.grade_directory(ASSETS / "reference", progress=recorder)
    seconds = time.perf_counter() - started  # the verdict
    sandbox.wait_for_teardown()
    teardown_s = time.perf_counter() - started - seconds
    if result.mode != "full" or result.status.value == "error":
        raise RuntimeError(f"full grading did not run: {result.status.value} {result.error}")
    phase_ms = dict(tap.last.phase_ms) if tap.last is not None else {}
    return Grading(seconds, result.status.value, recorder.segments(seconds), phase_ms, tap.job_id,
                   teardown_s)  # fmt: skip


def run(report: Report, env: dict[str, str], *, runs: int, warmup: int = 1) -> list[str]:
    """Returns the job ids it graded (for the leftover check)."""
    report.section(f"full grading, warm cache: {runs} runs after {warmup} warm-up, medians")
    gradings: list[Grading] = []
    bare: list[BareTimes] = []
    with tempfile.TemporaryDirectory(prefix="drydock-bench-full-") as scratch, _ObserveTap() as tap:
        stack = BareStack(Path(scratch))
        try:
            for index in range(warmup + runs):
                times = stack.cycle(env)
                grading = grade_once(tap)
                if index >= warmup:
                    bare.append(times)
                    gradings.append(grading)
        finally:
            stack.remove(env)
    full_s = median([g.seconds for g in gradings])
    engine_s = median([b.total_s for b in bare])
    statuses = sorted({g.status for g in gradings})
    report.figure(
        "engine_build_s", median([b.build_s for b in bare]), "s", "docker build, warm cache"
    )
    report.figure("engine_up_s", median([b.up_s for b in bare]), "s",
                  "docker-compose up -d --wait, 1 s health intervals")  # fmt: skip
    report.figure("engine_down_s", median([b.down_s for b in bare]), "s", "docker-compose down -v")
    report.figure("engine_s", engine_s, "s", "the baseline: build + up + down")
    report.figure("full_s", full_s, "s",
                  f"grade reference (full) to the verdict, status {'/'.join(statuses)}")  # fmt: skip
    report.figure("full_teardown_after_s", median([g.teardown_s for g in gradings]), "s",
                  "the job's teardown, after the verdict (not in full_s)")  # fmt: skip
    rel = report.figure("full_vs_engine", ratio(full_s, engine_s), "x")
    report.target("full", rel <= TARGET_RATIO and full_s < TARGET_S,
                  f"<= {TARGET_RATIO}x engine and < {TARGET_S:.0f} s")  # fmt: skip
    _breakdown(report, gradings)
    return tap.job_ids


def _breakdown(report: Report, gradings: list[Grading]) -> None:
    """Medians of the timeline segments, then of the runtime's own phases."""
    segments: dict[str, list[float]] = defaultdict(list)
    phases: dict[str, list[float]] = defaultdict(list)
    for grading in gradings:
        for name, seconds in grading.segments.items():
            segments[name].append(seconds)
        for name, ms in grading.phase_ms.items():
            phases[name].append(ms / 1000)
    order = [name for name, _ in _SEGMENTS]
    for name in sorted(segments, key=order.index):
        report.figure(f"full_{name}_s", median(segments[name]), "s", "timeline segment")
    for name in sorted(phases):
        report.figure(f"full_phase_{name}_s", median(phases[name]), "s", "runtime phase_ms")
