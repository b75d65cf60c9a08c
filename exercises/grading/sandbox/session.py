"""One grading run: `observe(plan, limits, progress)` builds, runs and probes a submission.

It builds the learner's image (and the cached development baseline for the size
comparison), scans it for canaries in the background while the stack comes up (`_Stack`),
probes it (`_Probes`) and always tears everything down (`SandboxJob`), after returning
the observations (the verdict does not wait for the teardown). What is the learner's
fault (build fails, a container cannot start or exits, OOM, a health check never passes, a
timeout) ends up in the observations; engine trouble raises `InfrastructureError`.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import replace
from typing import Any

import docker

from ..dockerfile import dockerfile_parse, external_sources
from ..references import ReferenceInvalid, reference_parse
from ..types import (
    EngineAddress,
    GradingError,
    ProgressCallback,
    ProjectFile,
    RuntimeObservations,
    SandboxLimits,
    SandboxPlan,
    Stage,
    no_progress,
)
from .baseline import ensure_baseline
from .build import build_image
from .canary import canaries_can_reach_layers, scan_image_for_canaries
from .client import LABEL_JOB, Deadline, TailBuffer, connect, local_image, standin_image
from .containers import _ContainerSpecs
from .files import context_files
from .health import HealthSpec
from .job import SandboxJob
from .limits import DiskGuard, container_writes
from .probes import _Probes
from .stack import _Running, _Stack
from .storage import JobStorage
from .substitutes import digests_dropped, substitute, substitute_note
from .teardown import TEARDOWNS as _TEARDOWNS
from .teardown import wait_for_teardown  # noqa: F401 (re-exported)

MAX_PENDING_TEARDOWNS = 2  # per process: a slow engine slows the next job, never piles up


def observe(
    plan: SandboxPlan,
    limits: SandboxLimits,
    progress: ProgressCallback = no_progress,
    engine: EngineAddress | None = None,
) -> RuntimeObservations:
    """Build, run and probe one submission on the grading engine.

    Returns as soon as the observations are complete: the teardown of the job (killing an
    app whose database is gone can take seconds) runs after, in a thread of this process,
    so the learner gets the verdict without waiting for it. It always runs (`SandboxJob`
    owns the resources; if the process dies first, the janitor sweeps by the job label);
    `wait_for_teardown()` waits for it (tests that count leftovers, the CLI at exit).
    """
    observations = RuntimeObservations()
    _TEARDOWNS.wait(keep=MAX_PENDING_TEARDOWNS - 1)
    client = connect(engine)
    try:
        job = SandboxJob(client, plan.job_id, limits)
    except BaseException:
        client.close()
        raise
    try:
        _Session(client, job, plan, limits, progress, observations).run()
    finally:
        _TEARDOWNS.start(job, client)
    return observations


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
        self.storage = JobStorage(job, limits, self.note)  # every volume of the job
        self.file_binds: dict[str, dict[str, ProjectFile]] = {}  # service -> {target: file}
        self.health_specs: dict[str, HealthSpec] = {}  # service -> the health check probed
        self.running: dict[str, _Running] = {}
        # (container, [(network, its names there)]): _Probes.helper_on
        self.helper: tuple[str, list[tuple[str, list[str]]]] | None = None
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
                self.probe_health_db_down()
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
            {k: str(v) for k, v in (args or {}).items() if v is not None},
            target=build.get("target") if isinstance(build, dict) else None,
        )
        if offline:
            self.obs.build_error = offline
            self.log.add(f"ERROR: {offline}\n")
            return
        outcome = build_image(
            self.client,
            context=digests_dropped(plan.files, plan.dockerfile),
            dockerfile=plan.dockerfile,
            tag=f"{self.job.image_repo}:app",
            # one uncached LABEL step per label (each a container and a commit): the job's
            # label alone marks the image as Drydock's (never a stand-in, the janitor's)
            labels={LABEL_JOB: plan.job_id},
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
        self.obs.final_image_labels = dict(
            (self.image_attrs.get("Config") or {}).get("Labels") or {}
        )
        if size > self.limits.image_bytes:
            self.obs.build_error = (
                f"the built image is {size / 2**20:.0f} MiB, above the sandbox limit of "
                f"{self.limits.image_bytes / 2**20:.0f} MiB"
            )
            return
        self.tag_app_image()
        self.obs.build_ok = True

    def offline_problem(self, build_args: dict[str, str], target: str | None = None) -> str | None:
        """Why the build may not run, or None: every image it names must be a stand-in, and
        nothing may be fetched. Stages after the `target` are never built by either builder,
        so what they name is not looked at (Docker would not fetch it either).

        The grading engine has no route out of its network namespace, so a daemon-side fetch
        (`ADD http://…`, a pull) fails whatever this says; checking first gives the learner a
        clear message and keeps another job's image (same engine) out of reach of `FROM`.
        """
        entry = self.plan.files.get(self.plan.dockerfile)
        try:
            parsed = dockerfile_parse(entry.content.decode("utf-8-sig") if entry else "")
        except (GradingError, UnicodeDecodeError):
            return None  # the build itself reports what is wrong with the file
        if target and (last := parsed.stage(str(target))) is not None:
            parsed = replace(parsed, stages=parsed.stages[: last.index + 1], _aliases={}, _links={})
        images, urls = external_sources(parsed, build_args)
        for source in urls:
            return (
                f"ADD cannot fetch {source.ref} (Dockerfile line {source.line}): builds in the "
                "sandbox have no network; COPY the file from your project instead"
            )
        for source in {s.ref: s for s in images}.values():
            attrs = standin_image(self.client, source.ref)
            note = substitute_note(attrs, source.ref) if attrs else None
            if attrs is None and (found := substitute(self.client, source.ref)):
                attrs, note = found
            if note:
                self.note(note)
            if attrs is None:
                return (
                    f"base image not available in the sandbox ({source.what} {source.ref}, Dockerfile "
                    f"line {source.line}): nothing can be pulled here, use one of the sandbox's base images"
                )
        return None

    def written(self) -> tuple[int, str]:
        """Bytes the job's containers wrote to their layers (DiskGuard). Volumes and tmpfs
        are capped by the kernel (`JobStorage`), so they need no watching."""
        sizes = container_writes(self.client, {"label": f"{LABEL_JOB}={self.job.job_id}"})
        top = max(sizes, key=lambda key: sizes[key], default="")
        return sum(sizes.values()), f"mostly {top}" if top else ""

    def tag_app_image(self) -> None:
        """Record the app service's `image:` name as the image's tag. The engine is not told:
        a name shared by every learner who copies the same compose file would let one job
        run another's image, so on the engine the image only has its job-unique tag."""
        ref = self.plan.app_image_tag
        if not ref or ref.startswith(f"drydock-{self.job.job_id}-"):
            return
        if not _taggable(ref):
            self.note(
                f"sandbox: the image cannot be tagged {ref!r}: not a valid image reference "
                "(repository names are lowercase; docker build would refuse it)"
            )
            return
        self.obs.final_image_tags = [ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"]

    def baseline(self) -> None:
        if self.plan.dev_files is None:
            return
        baseline = ensure_baseline(
            self.client,
            self.plan.dev_files,
            limits=self.limits,
            progress=self.progress,
            name=re.sub(r"[^a-z0-9]+", "-", self.plan.dev_name.lower()).strip("-") or "starter",
        )
        self.obs.phase_ms["baseline"] = baseline.duration_ms
        self.obs.dev_image_size = baseline.size
        if baseline.note:
            self.note(baseline.note)

    # canary scan (runs in the background during bring-up) --------------------------
    def scan(self) -> None:
        assert self.image_id
        started = time.monotonic()
        plan = self.plan
        build = (plan.services.get(plan.app_service) or {}).get("build") or {}
        args = build.get("args") if isinstance(build, dict) else None
        layers = canaries_can_reach_layers(
            context_files(plan.files, "", plan.dockerfile), plan.dockerfile,
            {k: str(v) for k, v in (args or {}).items() if v is not None}, plan.canaries,
        )  # fmt: skip
        result = scan_image_for_canaries(
            self.client, self.image_id, plan.canaries, max_bytes=self.limits.image_bytes,
            layers=layers,
        )  # fmt: skip
        self.obs.canary_hits = result.hits
        if result.truncated:
            self.note(f"sandbox: the secret scan stopped after {result.scanned_bytes // 2**20} MiB")
        self.obs.phase_ms["scan"] = int((time.monotonic() - started) * 1000)


def _taggable(ref: str) -> bool:
    """Whether `docker build -t ref` would accept it: a valid reference, and not a digest."""
    try:
        return reference_parse(ref).digest is None
    except ReferenceInvalid:
        return False


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
