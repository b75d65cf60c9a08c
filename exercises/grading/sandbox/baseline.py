"""The development baseline: the starter project's image, built once per starter content,
for the image size comparison."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import docker

from ..types import ProgressCallback, ProjectFile, SandboxLimits, no_progress
from .build import build_image
from .client import LABEL_BASELINE, LABEL_MANAGED, local_image


def tree_digest(files: Mapping[str, ProjectFile]) -> str:
    """sha256 of a project's files (paths, modes and contents)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name}\0{files[name].mode:o}\0".encode())
        digest.update(files[name].content + b"\0")
    return digest.hexdigest()


@dataclass
class Baseline:
    tag: str | None
    size: int | None
    note: str = ""
    built: bool = False
    duration_ms: int = 0


def ensure_baseline(
    client: docker.DockerClient,
    context: Mapping[str, ProjectFile],
    *,
    limits: SandboxLimits,
    progress: ProgressCallback = no_progress,
    name: str = "starter",
) -> Baseline:
    """The development image of the starter project, built once per starter content.

    Tagged `drydock/baseline-<name>:<content hash>` and labelled `org.drydock.baseline=<name>`
    (not with a job label), so every job reuses it; `janitor` drops superseded ones. A failure
    is a sandbox note, not an error: only the size comparison is lost.
    """
    started = time.monotonic()
    tag = f"drydock/baseline-{name}:{tree_digest(context)[:16]}"
    attrs = local_image(client, tag)
    if attrs is None:
        outcome = build_image(
            client,
            context=context,
            dockerfile="Dockerfile",
            tag=tag,
            labels={LABEL_BASELINE: name, LABEL_MANAGED: "1"},
            limits=limits,
            progress=progress,
            cgroup_name=f"baseline-{os.getpid()}-{threading.get_ident() % 10**6}",
            what="the development baseline",
        )
        if not outcome.ok:
            return Baseline(
                None, None, f"sandbox: the development baseline could not be built: {outcome.error}"
            )
        attrs = local_image(client, tag)
        if attrs is None:
            return Baseline(
                None, None, "sandbox: the development baseline image vanished after its build"
            )
        return Baseline(
            tag, attrs.get("Size"), built=True, duration_ms=int((time.monotonic() - started) * 1000)
        )
    return Baseline(tag, attrs.get("Size"), duration_ms=int((time.monotonic() - started) * 1000))


# --------------------------------------------------------------------------------------
