"""One grading run: `observe(plan, limits, progress)` builds, runs and probes a submission.

It builds the learner's image (and the cached development baseline for the size
comparison), scans it for canaries in the background while the stack comes up (`_Stack`),
probes it (`_Probes`) and always tears everything down (`SandboxJob`). What is the learner's
fault (build fails, a container cannot start or exits, OOM, a health check never passes, a
timeout) ends up in the observations; engine trouble raises `InfrastructureError`.
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import docker

from ..dockerfile import dockerfile_parse, external_sources
from ..types import (
    GradingError,
    ProgressCallback,
    RuntimeObservations,
    SandboxLimits,
    SandboxPlan,
    Stage,
    no_progress,
)
from . import canary
from .baseline import ensure_baseline
from .build import build_image
from .client import (
    LABEL_JOB,
    Deadline,
    TailBuffer,
    connect,
    engine_call,
    is_local_engine,
    local_image,
)
from .containers import SANDBOX_DIR, _ContainerSpecs
from .errors import Origin
from .job import SandboxJob
from .limits import DiskGuard, container_writes, tree_bytes
from .probes import _Probes
from .stack import _Running, _Stack


def observe(
    plan: SandboxPlan, limits: SandboxLimits, progress: ProgressCallback = no_progress
) -> RuntimeObservations:
    """Build, run and probe one submission in the sandbox; always tears it all down."""
    observations = RuntimeObservations()
    client = connect()
    try:
        with SandboxJob(client, plan.job_id, limits) as job:
            try:
                _Session(client, job, plan, limits, progress, observations).run()
            finally:
                shutil.rmtree(plan.workdir / SANDBOX_DIR, ignore_errors=True)
        observations.phase_ms["teardown"] = job.teardown_ms
    finally:
        client.close()
    return observations


# --------------------------------------------------------------------------------------


def _split_ref(ref: str) -> tuple[str, str] | None:
    """`registry:5000/team/app:1.2` -> ("registry:5000/team/app", "1.2"); None for digests."""
    if "@" in ref:
        return None
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return name, tag


# --------------------------------------------------------------------------------------
# One grading run
# --------------------------------------------------------------------------------------


class _Session(_Stack, _ContainerSpecs, _Probes):
    """The steps of one `observe` call; state lives here, resources in the SandboxJob."""

    def __init__(
        self,
        client: docker.DockerClient,
        job: SandboxJob,
        plan: SandboxPlan,
        limits: SandboxLimits,
        progress: ProgressCallback,
        observations: RuntimeObservations,
    ) -> None:
        self.client = client
        self.job = job
        self.plan = plan
        self.limits = limits
        self.progress = progress
        self.obs = observations
        self.log = TailBuffer(limits.log_bytes)
        self.image_id: str | None = None
        self.image_attrs: dict[str, Any] = {}
        self.networks: dict[str, str] = {}  # compose network -> job network name
        self.volumes: dict[str, str] = {}  # compose volume -> job volume name
        self.volume_paths: dict[str, Path] = {}  # job volume name -> its mountpoint on this host
        self.running: dict[str, _Running] = {}
        self.skipped: set[str] = set()
        self.deadline = Deadline(limits.run_timeout_s)  # restarted when bring-up begins

    def note(self, text: str) -> None:
        line = text if text.startswith("sandbox:") else f"sandbox: {text}"
        if line not in self.obs.notes:
            self.obs.notes.append(line)

    # the whole run ------------------------------------------------------------------
    def run(self) -> None:
        try:
            started = time.monotonic()
            self.build()
            self.baseline()
            self.obs.build_ms = int((time.monotonic() - started) * 1000)
            if not self.obs.build_ok:
                return
            scan = _Background(self.scan)
            started = time.monotonic()
            guard = DiskGuard(
                self.written, limit=self.limits.disk_bytes, stop=self.job.kill_containers,
                name=f"disk-{self.plan.job_id}",
            )  # fmt: skip
            guard.start()
            try:
                self.bring_up()
                self.probe_http()
                self.collect()
            finally:
                guard.close()
                if guard.exceeded:  # the root cause of whatever failed after it
                    self.obs.run_error = guard.message("the stack")
                    self.note(f"sandbox: {self.obs.run_error}")
                self.obs.run_ms = int((time.monotonic() - started) * 1000)
                waited = time.monotonic()
                scan.join(reraise=sys.exc_info()[0] is None)
                self.obs.phase_ms["scan_wait"] = int((time.monotonic() - waited) * 1000)
        finally:
            self.obs.log = self.log.text()

    # build ------------------------------------------------------------------------------
    def build(self) -> None:
        plan = self.plan
        self.progress(Stage.BUILDING, "building your image", "")
        build = (plan.services.get(plan.app_service) or {}).get("build") or {}
        args = build.get("args") if isinstance(build, dict) else None
        offline = self.offline_problem(
            {k: str(v) for k, v in (args or {}).items() if v is not None}
        )
        if offline:
            self.obs.build_error = offline
            self.log.add(f"ERROR: {offline}\n")
            return
        outcome = build_image(
            self.client,
            context=plan.workdir,
            dockerfile=plan.dockerfile,
            tag=f"{self.job.image_repo}:app",
            labels=self.job.labels(),  # one LABEL step per label: keep them few
            limits=self.limits,
            progress=self.progress,
            buildargs={k: str(v) for k, v in (args or {}).items() if v is not None},
            target=build.get("target") if isinstance(build, dict) else None,
            cgroup_name=plan.job_id,
            what="your image",
        )
        self.obs.phase_ms["build"] = outcome.duration_ms
        self.log.add(outcome.log)
        if not outcome.ok:
            self.obs.build_error = outcome.error
            return
        assert outcome.image_id
        self.image_id = outcome.image_id
        self.job.track_image(outcome.image_id)
        self.image_attrs = local_image(self.client, outcome.image_id) or {}
        size = int(self.image_attrs.get("Size") or 0)
        self.obs.final_image_size = size
        self.obs.final_image_user = (self.image_attrs.get("Config") or {}).get("User") or ""
        if size > self.limits.image_bytes:
            self.obs.build_error = (
                f"the built image is {size / 2**20:.0f} MiB, above the sandbox limit of "
                f"{self.limits.image_bytes / 2**20:.0f} MiB"
            )
            return
        self.tag_app_image()
        self.obs.build_ok = True

    def offline_problem(self, build_args: dict[str, str]) -> str | None:
        """Why the build would make the engine fetch something itself, or None.

        Builds run with `--network none`, but that only confines RUN steps: the daemon pulls a
        missing FROM / COPY --from image and downloads ADD URLs from the host's network,
        loopback included (`ADD http://127.0.0.1:8000/...` would put a host service's answer
        in the build log). So every such source is checked before the engine sees the build.
        """
        try:
            text = (self.plan.workdir / self.plan.dockerfile).read_text(encoding="utf-8-sig")
            parsed = dockerfile_parse(text)
        except (GradingError, OSError, UnicodeDecodeError):
            return None  # the build itself reports what is wrong with the file
        images, urls = external_sources(parsed, build_args)
        for source in urls:
            return (
                f"ADD cannot fetch {source.ref} (Dockerfile line {source.line}): builds in the "
                "sandbox have no network; COPY the file from your project instead"
            )
        for source in {s.ref: s for s in images}.values():
            if local_image(self.client, source.ref) is None:
                return (
                    f"base image not available in the sandbox ({source.what} {source.ref}, "
                    f"Dockerfile line {source.line}): nothing can be pulled here, use a local image"
                )
        return None

    def written(self) -> tuple[int, str]:
        """Bytes the job's containers wrote to their layers and to its volumes (DiskGuard)."""
        label = {"label": f"{LABEL_JOB}={self.job.job_id}"}
        sizes = container_writes(self.client, label)
        if is_local_engine(self.client):  # volumes are only measurable on this host
            for name in dict.fromkeys(self.volumes.values()):
                if name not in self.volume_paths:
                    with engine_call(f"inspecting volume {name}"):
                        self.volume_paths[name] = Path(
                            self.client.api.inspect_volume(name).get("Mountpoint") or "/nonexistent"
                        )
                sizes[f"volume {name}"] = tree_bytes(self.volume_paths[name])
        top = max(sizes, key=lambda key: sizes[key], default="")
        return sum(sizes.values()), f"mostly {top}" if top else ""

    def tag_app_image(self) -> None:
        """Give the image the app service's `image:` name, unless a non-job image owns it."""
        assert self.image_id
        ref = self.plan.app_image_tag
        split = _split_ref(ref) if ref else None
        tagged: list[str] = []
        if split is None:
            if ref:
                self.note(f"sandbox: the image was not tagged {ref!r} (not a taggable reference)")
        else:
            current = local_image(self.client, ref)
            labels = ((current or {}).get("Config") or {}).get("Labels") or {}
            if current is not None and LABEL_JOB not in labels:
                self.note(
                    f"sandbox: the image was not tagged {ref} (that name belongs to a local image)"
                )
            else:
                with engine_call(f"tagging the image {ref}", Origin.LEARNER_CONFIG):
                    self.client.api.tag(self.image_id, split[0], split[1])
                tagged.append(f"{split[0]}:{split[1]}")
        # The name is shared by every job grading the same compose file: a concurrent job may
        # move it to its own image a moment later, so what this job tagged is taken as done
        # rather than read back from the engine.
        attrs = local_image(self.client, self.image_id) or {}
        job_tag = f"{self.job.image_repo}:app"
        tags = [t for t in attrs.get("RepoTags") or [] if t != job_tag]
        self.obs.final_image_tags = [*tagged, *(t for t in tags if t not in tagged)]

    def baseline(self) -> None:
        if self.plan.dev_context is None:
            return
        baseline = ensure_baseline(
            self.client,
            self.plan.dev_context,
            limits=self.limits,
            progress=self.progress,
            name=re.sub(r"[^a-z0-9]+", "-", self.plan.dev_context.name.lower()).strip("-")
            or "starter",
        )
        self.obs.phase_ms["baseline"] = baseline.duration_ms
        self.obs.dev_image_size = baseline.size
        if baseline.note:
            self.note(baseline.note)

    # canary scan (runs in the background during bring-up) --------------------------
    def scan(self) -> None:
        assert self.image_id
        started = time.monotonic()
        result = canary.scan_image_for_canaries(
            self.client, self.image_id, self.plan.canaries, max_bytes=self.limits.image_bytes
        )
        self.obs.canary_hits = result.hits
        if result.truncated:
            self.note(f"sandbox: the secret scan stopped after {result.scanned_bytes // 2**20} MiB")
        self.obs.phase_ms["scan"] = int((time.monotonic() - started) * 1000)


class _Background:
    """Run a callable in a thread; `join()` re-raises what it raised."""

    def __init__(self, target: Any) -> None:
        self.error: BaseException | None = None

        def wrapper() -> None:
            try:
                target()
            except BaseException as error:  # noqa: BLE001 - re-raised in join()
                self.error = error

        self.thread = threading.Thread(target=wrapper, daemon=True)
        self.thread.start()

    def join(self, *, reraise: bool = True) -> None:
        self.thread.join()
        if self.error is not None and reraise:
            raise self.error
