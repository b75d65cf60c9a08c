"""The benchmark harness: its parsing and summary format (fast), and a static-only smoke run."""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.pages import parse_wrk
from bench.report import Report, median, percentile

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(
    r"^bench: static_ms \S+ \(\S+x tools\), full_s \S+ \(\S+x engine\), speedup_2w \S+, "
    r"page_p99_ms \S+, page_vs_static \S+$",
    re.M,
)
WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:8000/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    37.12ms   12.01ms 123.00ms   80.00%
    Req/Sec     1.34k   100.00     1.50k    70.00%
  Latency Distribution
     50%   38.10ms
     75%   41.00ms
     90%   50.00ms
     99%  1.23s
  2725 requests in 2.04s, 25.00MB read
  Socket errors: connect 0, read 12, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:   1337.50
Transfer/sec:     12.25MB
"""


def test_parse_wrk_reads_rate_percentiles_and_failures():
    load = parse_wrk(WRK_OUTPUT)
    assert load.rps == 1337.5
    assert load.p50_ms == pytest.approx(38.1)
    assert load.p99_ms == pytest.approx(1230.0)
    assert load.requests == 2725
    assert load.bad == 3 + 2  # non-2xx + timeouts; read errors are closed connections


def test_summary_line_has_the_fixed_form_even_with_missing_figures():
    out = io.StringIO()
    report = Report(out=out)
    report.figure("static_ms", 92.4, "ms")
    report.figure("static_vs_tools", 0.81, "x")
    report.figure("full_s", 5.43, "s")
    line = report.summary()
    assert SUMMARY.match(line), line
    assert "static_ms 92.4 (0.81x tools), full_s 5.43 (n/ax engine)" in line


def test_median_and_percentile():
    assert median([3, 1, 2]) == 2
    assert math.isnan(median([]))
    assert percentile(list(range(1, 101)), 0.99) == 99


@pytest.mark.slow
def test_static_only_quick_run_prints_figures_and_the_summary():
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "static"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert re.search(r"^static_ms_reference: [\d.]+ ms", done.stdout, re.M)
    assert any(re.match(r"^static_reference: target (met|missed) ", line) for line in lines)
    assert SUMMARY.match(lines[-1]), lines[-1]
