#!/bin/sh
# The image's entrypoint: a fresh directory for prometheus_client's multiprocess files (stale
# ones from a previous run would be added to the new counters), then the command, exec'ed so
# that it receives SIGTERM itself (compose's `init: true` reaps the grader's child processes).
set -eu
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    rm -rf "$PROMETHEUS_MULTIPROC_DIR"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi
exec "$@"
