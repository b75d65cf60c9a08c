"""The janitor: removes what crashed jobs left behind and keeps the build cache in budget."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors

from .client import LABEL_BASELINE, LABEL_JOB, LABEL_STANDIN, connect, engine_call, is_local_engine
from .errors import ENGINE_ERRORS, one_line, removal_in_progress
from .limits import BUILD_CGROUP_MIN_AGE_S, BUILD_CGROUP_PREFIX, CGROUP_ROOT, cgroup_version


def _epoch(value: Any) -> float:
    """Engine timestamps come as epoch ints or RFC 3339 strings with nanoseconds."""
    if isinstance(value, int | float):
        return float(value)
    if not value:
        return 0.0
    text = str(value).replace("Z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _protected_image(image: dict[str, Any]) -> bool:
    """Stand-in base images are never deleted (their children inherit the label, so it is the
    tagged stand-in itself that is protected, not everything carrying the label)."""
    labels = image.get("Labels") or {}
    tags = [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]
    return (
        labels.get(LABEL_STANDIN) == "1"
        and LABEL_JOB not in labels
        and LABEL_BASELINE not in labels
        and bool(tags)
    )


def janitor(
    client: docker.DockerClient | None = None,
    *,
    older_than_s: int = 0,
    cache_budget_bytes: int = 2 * 1024**3,
    job_id: str | None = None,
    sweep_scratch: Callable[..., int] | None = None,
) -> dict[str, Any]:
    """Remove what crashed jobs left behind, then prune the build cache past its budget.

    Removes containers, networks, volumes and images labelled `org.drydock.job` that are older
    than `older_than_s` (0 = all of them: only safe when no job is running), stale build
    cgroups, superseded dev baselines (keeps the newest per starter), and, while the engine's
    layer storage exceeds `cache_budget_bytes` plus what stand-ins and baselines need, dangling
    images (the classic builder's cache) oldest first. Stand-in images are never deleted.
    With `job_id`, only that job's resources are removed (whatever their age) and the cache,
    baselines and cgroups are left alone. `sweep_scratch(older_than_s=...)`, when given, removes
    the grader's scratch directories of dead jobs too (the grader owns them: it is passed in
    so that the sandbox never imports the grader). Returns counts of what was removed.
    """
    own_client = client is None
    client = client or connect()
    api = client.api
    cutoff = time.time() - older_than_s
    report: dict[str, Any] = {
        "containers": 0,
        "networks": 0,
        "volumes": 0,
        "images": 0,
        "baselines": 0,
        "cache_images": 0,
        "cgroups": 0,
        "scratch": 0,
        "reclaimed_bytes": 0,
        "errors": [],
    }
    label = f"{LABEL_JOB}={job_id}" if job_id else LABEL_JOB
    if job_id:
        cutoff = float("inf")
    try:
        with engine_call("janitor: listing containers"):
            containers = api.containers(all=True, filters={"label": label})
        for container in containers:
            if _epoch(container.get("Created")) <= cutoff:
                _janitor_remove(
                    report,
                    "containers",
                    lambda c=container: api.remove_container(c["Id"], force=True, v=True),
                )
        with engine_call("janitor: listing networks"):
            networks = api.networks(filters={"label": label})
        for network in networks:
            if _epoch(network.get("Created")) <= cutoff:
                _janitor_remove(report, "networks", lambda n=network: api.remove_network(n["Id"]))
        with engine_call("janitor: listing volumes"):
            volumes = api.volumes(filters={"label": label}).get("Volumes") or []
        for volume in volumes:
            if _epoch(volume.get("CreatedAt")) <= cutoff:
                _janitor_remove(
                    report, "volumes", lambda v=volume: api.remove_volume(v["Name"], force=True)
                )
        with engine_call("janitor: listing images"):
            images = api.images(all=True, filters={"label": label})
        _janitor_images(
            report,
            api,
            [
                i["Id"]
                for i in images
                if _epoch(i.get("Created")) <= cutoff and not _protected_image(i)
            ],
        )
        if job_id is None:
            _janitor_baselines(client, report)
            _janitor_cache(client, report, cache_budget_bytes)
            report["cgroups"] = _janitor_cgroups(client, cutoff)
            if sweep_scratch is not None:
                report["scratch"] = sweep_scratch(older_than_s=older_than_s)
    finally:
        if own_client:
            client.close()
    return report


def _janitor_images(report: dict[str, Any], api: Any, pending: list[str]) -> None:
    """Remove a job's images, children before parents: a build labels its last steps (one
    LABEL step per label), so one job has several labelled images, each the parent of the
    next, and a parent cannot go while its child is there. Pass after pass, while some go."""
    while pending:
        failed: list[tuple[str, BaseException]] = []
        for image_id in pending:
            try:
                api.remove_image(image_id, force=True, noprune=True)
                report["images"] += 1
            except docker.errors.NotFound:
                pass
            except ENGINE_ERRORS as error:
                failed.append((image_id, error))
        if len(failed) == len(pending):
            report["errors"] += [f"images: {one_line(error)}" for _, error in failed]
            return
        pending = [image_id for image_id, _ in failed]


def _janitor_remove(report: dict[str, Any], kind: str, remove: Any) -> None:
    try:
        remove()
        report[kind] += 1
    except docker.errors.NotFound:
        pass
    except ENGINE_ERRORS as error:
        if not removal_in_progress(error):
            report["errors"].append(f"{kind}: {one_line(error)}")


def _janitor_baselines(client: docker.DockerClient, report: dict[str, Any]) -> None:
    with engine_call("janitor: listing baselines"):
        images = client.api.images(filters={"label": LABEL_BASELINE})
    newest: dict[str, dict[str, Any]] = {}
    for image in sorted(images, key=lambda i: i.get("Created", 0), reverse=True):
        name = (image.get("Labels") or {}).get(LABEL_BASELINE, "")
        if name not in newest:
            newest[name] = image
            continue
        _janitor_remove(
            report, "baselines", lambda i=image: client.api.remove_image(i["Id"], force=True)
        )


def _janitor_cache(client: docker.DockerClient, report: dict[str, Any], budget: int) -> None:
    """The classic builder's cache is the untagged images; drop the oldest dangling ones (and
    with them their untagged parents) while the cache is above `budget` bytes."""
    try:
        pinned = _tagged_layer_bytes(client)
        used = _layers_size(client)
    except ENGINE_ERRORS as error:  # e.g. another janitor's `docker system df` is running
        report["errors"].append(f"cache: measuring skipped this run: {one_line(error)}")
        return
    report["cache_bytes_before"] = max(0, used - pinned)
    if used - pinned <= budget:
        return
    with engine_call("janitor: listing dangling images"):
        dangling = client.api.images(filters={"dangling": True})
    for image in sorted(dangling, key=lambda i: i.get("Created", 0)):
        if _protected_image(image):
            continue
        try:
            client.api.remove_image(image["Id"])  # prunes its untagged parents too
            report["cache_images"] += 1
        except docker.errors.APIError as error:  # in use by a container or a running build
            if error.status_code != 409:
                report["errors"].append(f"cache image: {one_line(error)}")
            continue
        try:
            now = _layers_size(client)
        except ENGINE_ERRORS as error:
            report["errors"].append(f"cache: measuring stopped this run: {one_line(error)}")
            break
        report["reclaimed_bytes"] += max(0, used - now)
        used = now
        if used - pinned <= budget:
            break
    with contextlib.suppress(*ENGINE_ERRORS):  # BuildKit's cache, should anything have used it
        report["reclaimed_bytes"] += int(
            client.api.prune_builds(keep_storage=budget).get("SpaceReclaimed") or 0
        )


def _layers_size(client: docker.DockerClient) -> int:
    """`docker system df`'s layer bytes. The engine runs one df at a time and refuses a second
    ("a disk usage operation is already running"): two janitors at once, or a janitor beside
    an operator's `docker system df`, would otherwise crash one of them."""
    return int(client.df().get("LayersSize") or 0)


def _tagged_layer_bytes(client: docker.DockerClient) -> int:
    """Bytes of the layers that tagged images need (what is not cache).

    The API has no per-layer sizes or ids, but `history` gives each step's size; a step is
    identified by its whole ancestry (created-by and creation time of it and every step
    below), so layers shared by several images are counted once.
    """
    seen: set[str] = set()
    total = 0
    for image in client.api.images():
        if not [t for t in image.get("RepoTags") or [] if t != "<none>:<none>"]:
            continue
        ancestry = hashlib.sha256()
        for step in reversed(client.api.history(image["Id"])):
            ancestry.update(
                f"{step.get('Created')}|{step.get('CreatedBy')}|{step.get('Size')}\n".encode()
            )
            key = ancestry.hexdigest()
            if key not in seen:
                seen.add(key)
                total += int(step.get("Size") or 0)
    return total


def _janitor_cgroups(client: docker.DockerClient, cutoff: float) -> int:
    """Empty build cgroups left by crashed workers (a busy one refuses rmdir, so it stays).

    A running build's cgroup is empty between two RUN steps too, and removing it would let
    the build's next steps run without its pids limit; so whatever `cutoff` says, a cgroup
    younger than BUILD_CGROUP_MIN_AGE_S (longer than any build may last) is left alone.
    """
    if not is_local_engine(client) or not CGROUP_ROOT.is_dir():
        return 0
    cutoff = min(cutoff, time.time() - BUILD_CGROUP_MIN_AGE_S)
    removed = 0
    pattern = f"{BUILD_CGROUP_PREFIX}*" if cgroup_version() == 2 else f"*/{BUILD_CGROUP_PREFIX}*"
    for directory in CGROUP_ROOT.glob(pattern):
        with contextlib.suppress(OSError):
            if directory.stat().st_mtime <= cutoff:
                directory.rmdir()
                removed += 1
    return removed
