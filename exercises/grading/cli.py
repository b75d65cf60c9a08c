"""`grade DIR [--exercise docker-production] [--static-only] [--json]`.

Exit codes are a public contract: 0 passed or failed, 3 rejected, 2 error (including
Drydock's own infrastructure errors, reported as `status: error`). `manage.py grade`
wraps `main`; `python -m exercises.grading.cli` runs it directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .grader import EXERCISES, grade_directory
from .types import GradeResult, InfrastructureError, Status

EXIT_CODES = {Status.PASSED: 0, Status.FAILED: 0, Status.REJECTED: 3, Status.ERROR: 2}
INFRASTRUCTURE = "Drydock infrastructure error (not your submission's fault): {problem}"
STATUS_LINES = {
    Status.PASSED: "PASSED: all seven checks pass.",
    Status.FAILED: "FAILED: {passed} of {total} checks pass.",
    Status.REJECTED: "REJECTED by the sandbox policy: nothing was built or run.",
    Status.ERROR: "ERROR: {error}",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grade", description="Grade the learner files in DIR.")
    parser.add_argument("directory", metavar="DIR", type=Path)
    parser.add_argument("--exercise", default=EXERCISES[0], choices=EXERCISES)
    parser.add_argument(
        "--static-only", action="store_true", help="check the files; build and run nothing"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        result = grade_directory(
            args.directory, exercise=args.exercise, static_only=args.static_only
        )
    except InfrastructureError as exc:
        result = GradeResult(
            exercise=args.exercise, status=Status.ERROR, mode="static" if args.static_only else "full",
            error=INFRASTRUCTURE.format(problem=exc),
        )  # fmt: skip
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print_report(result, sys.stdout)
    return EXIT_CODES[result.status]


def print_report(result: GradeResult, out: TextIO) -> None:
    """The human-readable report: a status line, then ✓/✗ per check with evidence and hints."""
    passed = sum(check.passed for check in result.checks)
    line = STATUS_LINES[result.status].format(
        passed=passed, total=len(result.checks), error=result.error
    )
    out.write(f"{result.exercise} ({result.mode}): {line}  Score {result.score}/100\n")
    for violation in result.policy:
        out.write(f"  ✗ [{violation.rule}] {violation.detail}\n")
    for check in result.checks:
        out.write(f"\n{'✓' if check.passed else '✗'} {check.id}: {check.summary}\n")
        for evidence in check.evidence:
            out.write(f"    {evidence}\n")
        if not check.passed and check.hint:
            out.write(f"    hint: {check.hint}\n")
    if result.extensions:
        out.write("\nChallenge extension (bonus):\n")
        for extension in result.extensions:
            out.write(f"  {'✓' if extension.present else '·'} {extension.title}\n")
            for evidence in extension.evidence:
                out.write(f"      {evidence}\n")
    timings = result.timings
    out.write(
        f"\nTimings: static {timings.static_ms} ms, build {timings.build_ms} ms, "
        f"run {timings.run_ms} ms, total {timings.total_ms} ms\n"
    )


if __name__ == "__main__":
    sys.exit(main())
