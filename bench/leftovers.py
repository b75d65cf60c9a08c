"""After the bench: find engine resources left by the bench's grading jobs, and remove them.

Job ids are collected while the bench runs (in process from the runtime, from the worker's
scratch directory names), so only the bench's own jobs are looked at, never another
engineer's jobs on a shared engine. Removal reuses the grader's owner: `SandboxJob.teardown`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from exercises.grading.sandbox.client import LABEL_JOB, connect
from exercises.grading.sandbox.job import SandboxJob
from exercises.grading.sandbox.limits import BUILD_CGROUP_PREFIX, CGROUP_ROOT
from exercises.grading.types import SandboxLimits


def job_ids_in(scratch: Path) -> set[str]:
    """Job ids from the grader's scratch directories (`job-<id>` and `job-<id>.home`)."""
    found = set()
    for path in scratch.glob("job-*") if scratch.is_dir() else []:
        job = path.name.removeprefix("job-").split(".", 1)[0]
        if job.isalnum():
            found.add(job)
    return found


def _build_cgroups(job_ids: set[str]) -> list[Path]:
    """Build cgroups (`drydock-build-<job id>` in each cgroup v1 hierarchy) of these jobs."""
    root = CGROUP_ROOT
    return [
        path
        for job in sorted(job_ids)
        for path in root.glob(f"*/{BUILD_CGROUP_PREFIX}{job}")
        if path.is_dir()
    ]


def count_and_clean(job_ids: set[str]) -> int:
    """How many containers, networks, volumes, images and build cgroups of these jobs were
    still there (each is then removed)."""
    if not job_ids:
        return 0
    cgroups = _build_cgroups(job_ids)
    for path in sorted(cgroups, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):  # still has tasks: the engine janitor's business
            path.rmdir()
    client = connect()
    try:
        api = client.api
        left = len({path.name for path in cgroups})  # one per job, whatever the hierarchies
        for job in sorted(job_ids):
            label = {"label": f"{LABEL_JOB}={job}"}
            left += len(api.containers(all=True, filters=label))
            left += len(api.networks(filters=label))
            left += len((api.volumes(filters=label) or {}).get("Volumes") or [])
            left += len(api.images(filters=label))
            SandboxJob(client, job, SandboxLimits()).teardown()
        return left
    finally:
        client.close()
