"""Figures, statistics and the printed report (one figure per line, then the summary line).

The summary line is read by other tools, so its form is fixed here and nowhere else:
`bench: static_ms M (Rx tools), full_s S (Rx engine), speedup_2w X, page_p99_ms P, page_vs_static R`.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline and not math.isnan(baseline) else math.nan


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """`with stopwatch() as elapsed:` ... `elapsed()` in seconds (frozen at exit)."""
    started = time.perf_counter()
    stopped: list[float] = []
    yield lambda: (stopped[0] if stopped else time.perf_counter()) - started
    stopped.append(time.perf_counter())


def timed_runs(run: Callable[[], Any], *, runs: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of `runs` calls of `run`, after `warmup` untimed calls."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def _format(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 100:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass
class Report:
    """Collects figures as they are measured and prints each at once (flushed)."""

    out: TextIO = sys.stdout
    values: dict[str, float] = field(default_factory=dict)
    missed: list[str] = field(default_factory=list)

    def figure(self, name: str, value: float, unit: str = "", note: str = "") -> float:
        self.values[name] = value
        text = f"{name}: {_format(value)}{' ' + unit if unit else ''}"
        self._print(text + (f"  ({note})" if note else ""))
        return value

    def target(self, name: str, met: bool, text: str) -> None:
        """A target verdict line; a missed target is reported, never an exit status."""
        if not met:
            self.missed.append(name)
        self._print(f"{name}: target {'met' if met else 'missed'} ({text})")

    def info(self, text: str) -> None:
        self._print(f"# {text}")

    def section(self, title: str) -> None:
        self._print(f"# --- {title}")

    def summary(self) -> str:
        v = self.values.get
        nan = math.nan
        line = (
            f"bench: static_ms {_format(v('static_ms', nan))} "
            f"({_format(v('static_vs_tools', nan))}x tools), "
            f"full_s {_format(v('full_s', nan))} ({_format(v('full_vs_engine', nan))}x engine), "
            f"speedup_2w {_format(v('speedup_2w', nan))}, "
            f"page_p99_ms {_format(v('page_p99_ms', nan))}, "
            f"page_vs_static {_format(v('page_vs_static', nan))}"
        )
        self._print(line)
        return line

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)
