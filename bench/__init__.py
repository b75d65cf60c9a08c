"""Drydock's benchmark harness: `scripts/bench [--quick]` (see README, "Performance").

Each part measures Drydock against the limits of its own parts, in the same run:
static feedback against its two tools, a full grading against the bare engine work,
throughput with 1 and 2 Celery workers against the engine's own parallelism, and pages
against their rendered HTML served as static files by the same server stack.
"""
