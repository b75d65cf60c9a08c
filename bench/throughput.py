"""Throughput: full gradings through real Celery workers (as production runs them), 1 then 2.

Submissions are created with `services.submission_create` (static grade, stored, enqueued
after commit) on the bench's private database and Redis database; a prefork worker
`celery -A drydock worker -Q grading,celery -c N` grades them. The span is read from the
rows themselves: first `started_at` to last `finished_at`, so queueing before the first
grading and the worker's start-up are not counted. Each worker first grades N warm-up
submissions at once, so every pool process is warm.

The engine's own limit is measured in the same run: the bare engine cycle (`bare.py`) run
back to back in one lane, then in two lanes at once. If the engine itself does not speed
up 1.7x with two at once, no number of grading workers can (the target is then 90% of
what the engine reaches).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .bare import ASSETS, BareStack
from .cpu import CpuMeter
from .memory import peak_rss_mib
from .report import Report, median
from .stack import Stack, StackError, wait_until

TARGET_SPEEDUP = 1.7  # or within 10% of the bare engine's own two-lane speed-up
WAIT_PER_GRADING_S = 120


@dataclass
class Batch:
    gradings: int
    span_s: float
    statuses: dict[str, int]
    cpu_busy: float = 0.0  # share of both cores busy during the batch, 0..1
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds by part (cpu.py)
    durations: list[float] = field(default_factory=list)  # each grading, started to finished

    @property
    def in_flight(self) -> float:
        """Mean number of gradings running at once over the span."""
        return sum(self.durations) / self.span_s if self.span_s else 0.0

    @property
    def per_minute(self) -> float:
        return 60 * self.gradings / self.span_s if self.span_s else 0.0


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _learner():  # type: ignore[no-untyped-def]
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench-learner")
    return user


def _files() -> dict[str, str]:
    source = ASSETS / "reference"
    return {name: (source / name).read_text() for name in ("Dockerfile", "docker-compose.yml")}


def submit(count: int) -> list[int]:
    from exercises.models import Exercise
    from exercises.services import submission_create

    learner, exercise, files = _learner(), Exercise.objects.get(slug="docker-production"), _files()
    ids = []
    for _ in range(count):
        submission = submission_create(learner=learner, exercise=exercise, files=files)
        ids.append(submission.pk)
    return ids


def wait_finished(ids: list[int], timeout: float, on_poll: Callable[[], None]) -> Batch:
    from exercises.models import Submission

    rows = Submission.objects.filter(pk__in=ids)

    def finished() -> bool:
        on_poll()
        return rows.filter(status__in=Submission.FINISHED).count() == len(ids)

    if not wait_until(finished, timeout):
        stuck = list(
            rows.exclude(status__in=Submission.FINISHED).values_list("status", "stage_message")
        )
        raise StackError(f"gradings did not finish within {timeout:.0f}s: {stuck[:3]}")
    done = list(rows.values("status", "started_at", "finished_at"))
    span = (
        max(r["finished_at"] for r in done) - min(r["started_at"] for r in done)
    ).total_seconds()
    statuses: dict[str, int] = {}
    for row in done:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    durations = [(r["finished_at"] - r["started_at"]).total_seconds() for r in done]
    return Batch(len(ids), span, statuses, durations=durations)


def batch(stack: Stack, count: int) -> Batch:
    meter = CpuMeter(lambda: [stack.pid("worker"), *stack.worker_children()])
    busy0, total0 = _cpu_times()
    before = meter.sample()
    result = wait_finished(submit(count), WAIT_PER_GRADING_S * count, stack.note_jobs)
    result.cpu_s = meter.split(before, meter.sample())
    busy1, total1 = _cpu_times()
    result.cpu_busy = (busy1 - busy0) / max(1, total1 - total0)
    return result


def run(report: Report, stack: Stack, *, gradings: int, engine_cycles: int) -> dict[str, float]:
    """Returns peak RSS (MiB) figures of the grading worker for the memory section."""
    report.section(f"throughput: {gradings} full gradings through Celery workers (-c 1, then -c 2)")
    memory: dict[str, float] = {}
    batches: dict[int, Batch] = {}
    for concurrency in (1, 2):
        stack.start_worker(concurrency)
        try:
            batch(stack, concurrency)  # warm-up: every pool process grades once
            batches[concurrency] = measured = batch(stack, gradings)
            if concurrency == 1:
                memory["worker_peak_rss_mib"] = max(
                    peak_rss_mib(p) for p in stack.worker_children()
                )
                memory["worker_main_peak_rss_mib"] = peak_rss_mib(stack.pid("worker"))
        finally:
            stack.stop("worker")
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(measured.statuses.items()))
        split = ", ".join(f"{k} {v / gradings:.2f}" for k, v in measured.cpu_s.items())
        report.figure(f"cpu_s_per_grading_{concurrency}w", sum(measured.cpu_s.values()) / gradings,
                      "CPU-s", f"whole machine; by part: {split}")  # fmt: skip
        report.figure(f"grading_s_{concurrency}w", median(measured.durations), "s",
                      f"one grading, median; {measured.in_flight:.2f} in flight on average")  # fmt: skip
        report.figure(f"gradings_per_min_{concurrency}w", measured.per_minute, "/min",
                      f"{gradings} in {measured.span_s:.1f} s: {statuses}; "
                      f"CPU {measured.cpu_busy:.0%} busy")  # fmt: skip
    speedup = report.figure("speedup_2w", batches[2].per_minute / batches[1].per_minute, "x")
    engine = engine_speedup(report, stack.env, cycles=engine_cycles)
    engine_bound = engine < TARGET_SPEEDUP
    report.target(
        "throughput",
        speedup >= TARGET_SPEEDUP or (engine_bound and speedup >= 0.9 * engine),
        f">= {TARGET_SPEEDUP}x with 2 workers"
        + (f"; the bare engine itself only reaches {engine:.2f}x" if engine_bound else ""),
    )
    return memory


def engine_speedup(report: Report, env: dict[str, str], *, cycles: int) -> float:
    """The bare engine cycle: `cycles` back to back, then 2 lanes of cycles/2 at once."""
    with tempfile.TemporaryDirectory(prefix="drydock-bench-lanes-") as scratch:
        lanes = [BareStack(Path(scratch), lane) for lane in ("a", "b")]
        try:
            lanes[0].cycle(env)  # warm-up
            meter = CpuMeter(lambda: [os.getpid()])  # the docker and compose CLIs: our children
            before = meter.sample()
            started = time.perf_counter()
            for _ in range(cycles):
                lanes[0].cycle(env)
            serial = time.perf_counter() - started
            cpu_s = meter.split(before, meter.sample())
            errors: list[BaseException] = []

            def lane(stack: BareStack) -> None:
                try:
                    for _ in range(cycles // 2):
                        stack.cycle(env)
                except BaseException as error:  # noqa: BLE001 - re-raised below
                    errors.append(error)

            threads = [threading.Thread(target=lane, args=(s,)) for s in lanes]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            parallel = time.perf_counter() - started
            if errors:
                raise errors[0]
        finally:
            for stack in lanes:
                stack.remove(env)
    serial_rate = 60 * cycles / serial
    parallel_rate = 60 * 2 * (cycles // 2) / parallel
    report.figure(
        "engine_cycles_per_min_1w", serial_rate, "/min", f"bare cycle x{cycles}, one lane"
    )
    split = ", ".join(f"{k} {v / cycles:.2f}" for k, v in cpu_s.items())
    report.figure("cpu_s_per_engine_cycle", sum(cpu_s.values()) / cycles, "CPU-s",
                  f"whole machine; by part (worker = the CLIs): {split}")  # fmt: skip
    report.figure("engine_cycles_per_min_2w", parallel_rate, "/min", "two lanes at once")
    return report.figure("engine_speedup_2w", parallel_rate / serial_rate, "x")
