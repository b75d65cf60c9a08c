"""`python -m bench [--quick] [--only PART ...]`: run the parts, print figures and the summary.

Exit status 0 unless the harness itself failed; a missed target is printed, not an error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from dataclasses import dataclass

from .report import Report
from .stack import Stack

PARTS = ("static", "full", "throughput", "memory", "pages")


@dataclass(frozen=True)
class Plan:
    static_runs: int
    full_runs: int
    gradings: int
    engine_cycles: int
    page_seconds: float
    page_warmup_s: float
    memory_gradings: int


FULL = Plan(
    static_runs=50, full_runs=5, gradings=12, engine_cycles=6, page_seconds=20, page_warmup_s=3,
    memory_gradings=200,
)  # fmt: skip
QUICK = Plan(
    static_runs=5, full_runs=1, gradings=2, engine_cycles=2, page_seconds=2, page_warmup_s=1,
    memory_gradings=10,
)  # fmt: skip


def _machine() -> str:
    """The load average: the figures of a run are only comparable on a similar machine state."""
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="few runs (a smoke test), same figures"
    )
    parser.add_argument(
        "--only", nargs="+", choices=PARTS, default=list(PARTS), help="run only these parts"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the bench directory (logs, database)"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    report = Report()
    stack = Stack()
    stack.apply_env()
    started = time.monotonic()
    report.info(f"drydock bench ({'quick' if args.quick else 'full'}), working in {stack.dir}")
    report.info(_machine())
    job_ids: set[str] = set()
    memory: dict[str, float] = {}
    failed = False
    try:
        import django

        django.setup()
        if {"throughput", "memory", "pages"} & set(args.only):
            stack.prepare_site()
        if {"throughput", "memory"} & set(args.only):
            stack.start_redis()
        if "static" in args.only:
            from . import static

            static.run(report, runs=plan.static_runs)
        if "full" in args.only:
            from . import full

            job_ids |= set(full.run(report, stack.env, runs=plan.full_runs))
        if "throughput" in args.only:
            from . import throughput

            memory |= throughput.run(
                report, stack, gradings=plan.gradings, engine_cycles=plan.engine_cycles
            )
        if "memory" in args.only:
            from . import memory as memory_part

            memory |= memory_part.run(report, stack, gradings=plan.memory_gradings)
        if "pages" in args.only:
            from . import pages

            site = pages.Site()
            twins = pages.prepare(stack, site)
            memory |= pages.run(report, stack, site, twins, seconds=plan.page_seconds,
                                warmup_s=plan.page_warmup_s)  # fmt: skip
            pages.request_costs(report, site, twins)
            pages.query_counts(report, site)
        if memory:
            report.section("memory: peak resident set (VmHWM)")
            for name, value in memory.items():
                report.figure(name, value, "MiB")
    except Exception:  # a harness failure: say what broke, still clean up, exit non-zero
        failed = True
        traceback.print_exc()
    finally:
        stack.close(keep=args.keep or failed)
        if {"full", "throughput"} & set(args.only):
            from .leftovers import count_and_clean

            job_ids |= stack.seen_jobs
            report.figure("engine_leftovers", count_and_clean(job_ids), "resources",
                          f"of the bench's {len(job_ids)} grading jobs, removed")  # fmt: skip
    report.info(_machine())
    report.info(f"{len(report.missed)} target(s) missed: {', '.join(report.missed) or 'none'}; "
                f"{time.monotonic() - started:.0f} s in all")  # fmt: skip
    report.summary()
    if failed:
        print(f"bench: harness failure (logs kept in {stack.dir})", file=sys.stderr)
    return 1 if failed else 0
