"""What-if variants of a full grading, to measure what a proposed fix would gain (`--whatif`).

Each variant patches the grader in this process only, for the duration of one grading,
and is run interleaved with the real grading so both see the same machine. Nothing here
changes Drydock: these numbers back the recommendations in the bench's closing note.

- `stable_canaries`: the grader's secret-file values are the same for every job (they are
  random per job today, so the learner's `COPY . .` never hits the build cache and
  `npm run build` runs again in every grading).
- `no_scan`: no canary scan of the image during bring-up (today it streams the whole
  image through `docker save` while PostgreSQL initialises, on the same two cores); the
  upper bound of what scanning only the learner's own layers would gain.
- `no_disk_guard`: no disk-usage polling (`sandbox.limits.DiskGuard`, `docker ps --size` and a
  walk of the job's volumes every 0.5 s during the build and the run).
- `all`: the three together.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager

from exercises.grading import grader, policy
from exercises.grading.sandbox import canary, limits

from .full import Grading, _ObserveTap, grade_once
from .report import Report, median


@contextmanager
def _patched(module: object, name: str, value: object) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def stable_canaries() -> AbstractContextManager[None]:
    """Every job gets the same sequence of canary values (reset at each sandbox_inputs)."""
    original_inputs = grader.sandbox_inputs
    counter = itertools.count()

    def canary() -> str:
        return f"drydockcanary{next(counter):024d}"

    def sandbox_inputs(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal counter
        counter = itertools.count()
        return original_inputs(*args, **kwargs)

    stack = ExitStack()
    stack.enter_context(_patched(policy, "canary", canary))
    stack.enter_context(_patched(grader, "sandbox_inputs", sandbox_inputs))
    return stack


def no_scan() -> AbstractContextManager[None]:
    return _patched(canary, "scan_image_for_canaries", lambda *a, **k: canary.CanaryScan())


def no_disk_guard() -> AbstractContextManager[None]:
    return _patched(limits.DiskGuard, "start", lambda self: None)


def all_fixes() -> AbstractContextManager[None]:
    stack = ExitStack()
    for variant in (stable_canaries, no_scan, no_disk_guard):
        stack.enter_context(variant())
    return stack


VARIANTS: dict[str, Callable[[], AbstractContextManager[None]]] = {
    "stable_canaries": stable_canaries,
    "no_scan": no_scan,
    "no_disk_guard": no_disk_guard,
    "all": all_fixes,
}


def run(report: Report, *, runs: int, warmup: int = 1) -> list[str]:
    report.section(f"what-if (measured, bench-only patches): {runs} rounds after {warmup} warm-up")
    results: dict[str, list[Grading]] = {"as_is": [], **{name: [] for name in VARIANTS}}
    with _ObserveTap() as tap:
        for index in range(warmup + runs):
            for name in results:
                with VARIANTS[name]() if name in VARIANTS else ExitStack():
                    grading = grade_once(tap)
                if index >= warmup:
                    results[name].append(grading)
    as_is = median([g.seconds for g in results["as_is"]])
    report.figure("whatif_as_is_s", as_is, "s", "the grader as it is, same rounds")
    for name in VARIANTS:
        seconds = median([g.seconds for g in results[name]])
        build = median([g.segments.get("build", 0.0) for g in results[name]])
        db = median([g.segments.get("db_init_probe", 0.0) for g in results[name]])
        report.figure(f"whatif_{name}_s", seconds, "s",
                      f"saves {as_is - seconds:.2f} s; build {build:.2f} s, db init+probe {db:.2f} s")  # fmt: skip
    return tap.job_ids
