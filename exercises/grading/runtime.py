"""Brings a normalised stack up in the sandbox and collects `RuntimeObservations`.

`observe(plan, limits, progress)` is the whole public surface. It builds the learner's image
(and the cached development baseline for the size comparison), then runs the stack *without*
docker-compose: the plan is already `docker-compose config` output with the sandbox
normalisation applied, so translating it to containers directly is faster and gives control:
health checks are probed right after each start (instead of waiting for Docker's 10-30 s
intervals), dependents start as soon as their `depends_on` conditions hold, and nothing is
ever published, pulled or left behind (`engine.SandboxJob` owns and releases everything).

What is the learner's fault (build fails, a container cannot start or exits, OOM, a health
check never passes, a timeout) ends up in the observations; engine trouble raises
`InfrastructureError` from `engine`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
from docker.types import EndpointConfig, Mount, Ulimit

import docker

from . import engine
from .dockerfile import dockerfile_parse, external_sources
from .types import (
    GradingError,
    InfrastructureError,
    ProgressCallback,
    RuntimeObservations,
    SandboxLimits,
    SandboxPlan,
    ServiceObservation,
    Stage,
    no_progress,
)

HEALTH_RETRY_S = 0.3  # pause between two failed health probes
MIN_HEALTH_BUDGET_S = 5.0  # a health check never gets less than this to pass
HTTP_PROBE_BUDGET_S = 10.0
DEFAULT_APP_PORT = 3000
LOG_TAIL_BYTES = 4096  # per service, in observations
SANDBOX_DIR = ".drydock-sandbox"  # job-private files (secret copies) inside the workdir
# Local images with a busybox/alpine `wget`, tried in order for the in-network HTTP probe.
PROBE_IMAGES = (
    "busybox:latest",
    "alpine:latest",
    "node:18-alpine",
    "node:20-alpine",
    "postgres:14-alpine",
)
# Docker's own healthcheck defaults.
DEFAULT_INTERVAL_S, DEFAULT_TIMEOUT_S, DEFAULT_RETRIES = 30.0, 30.0, 3
# Errors from `docker start` that come from the container's own configuration.
LEARNER_START_ERRORS = (
    "unable to find user",
    "no matching entries in passwd",
    "executable file not found",
    "no such file or directory",
    "permission denied",
    "not a directory",
    "is a directory",
    "starting container process",
    "oci runtime",
    "invalid",
    "exec format error",
)


def observe(
    plan: SandboxPlan, limits: SandboxLimits, progress: ProgressCallback = no_progress
) -> RuntimeObservations:
    """Build, run and probe one submission in the sandbox; always tears it all down."""
    observations = RuntimeObservations()
    client = engine.connect()
    try:
        with engine.SandboxJob(client, plan.job_id, limits) as job:
            try:
                _Session(client, job, plan, limits, progress, observations).run()
            finally:
                shutil.rmtree(plan.workdir / SANDBOX_DIR, ignore_errors=True)
        observations.phase_ms["teardown"] = job.teardown_ms
    finally:
        client.close()
    return observations


# --------------------------------------------------------------------------------------
# Plan parsing helpers (compose's normalised JSON)
# --------------------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any, default: float) -> float:
    """Compose/Go durations ("1m30s", "500ms", "10s") or nanoseconds (int) to seconds."""
    if value is None or value == "":
        return default
    if isinstance(value, int | float):
        return float(value) / 1e9 if value > 10_000 else float(value)
    parts = _DURATION.findall(str(value))
    if not parts:
        return default
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def parse_bytes(value: Any) -> int:
    """Compose byte values ("536870912", 536870912, "512m") to bytes; 0 when unset."""
    if value in (None, "", 0):
        return 0
    if isinstance(value, int | float):
        return int(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", str(value).lower())
    if not match:
        return 0
    factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[match.group(2)]
    return int(float(match.group(1)) * factor)


@dataclass
class HealthSpec:
    test: list[str]  # Docker's form: ["CMD", ...] or ["CMD-SHELL", "..."]
    interval_s: float
    timeout_s: float
    retries: int
    start_period_s: float

    @property
    def argv(self) -> list[str]:
        if self.test[0] == "CMD-SHELL":
            return ["/bin/sh", "-c", " ".join(self.test[1:])]
        return list(self.test[1:])

    @property
    def budget_s(self) -> float:
        """How long the check may take to pass: its own start period plus `retries` probes.

        Docker would wait `interval` between probes; probing every HEALTH_RETRY_S instead
        reaches the same verdict as soon as the service is ready, without waiting 10-30 s.
        """
        return max(MIN_HEALTH_BUDGET_S, self.start_period_s + self.retries * self.timeout_s)

    def for_docker(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "interval": int(self.interval_s * 1e9),
            "timeout": int(self.timeout_s * 1e9),
            "retries": self.retries,
            "start_period": int(self.start_period_s * 1e9),
        }


def health_spec(service: dict[str, Any], image_config: dict[str, Any]) -> HealthSpec | None:
    """The health check that applies: the service's, else the image's HEALTHCHECK."""
    declared = service.get("healthcheck") or {}
    if declared.get("disable"):
        return None
    image_check = image_config.get("Healthcheck") or {}
    test = declared.get("test") or image_check.get("Test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not test or test[0] == "NONE" or len(test) < 2:
        return None
    if test[0] not in ("CMD", "CMD-SHELL"):
        test = ["CMD", *test]

    def pick(key: str, image_key: str, default: float) -> float:
        if declared.get(key) not in (None, ""):
            return parse_duration(declared[key], default)
        return (
            parse_duration(image_check.get(image_key), default)
            if image_check.get(image_key)
            else default
        )

    retries = (
        declared.get("retries")
        if declared.get("retries") is not None
        else image_check.get("Retries")
    )
    return HealthSpec(
        test=[str(t) for t in test],
        interval_s=pick("interval", "Interval", DEFAULT_INTERVAL_S),
        timeout_s=pick("timeout", "Timeout", DEFAULT_TIMEOUT_S),
        retries=int(retries) if retries else DEFAULT_RETRIES,
        start_period_s=pick("start_period", "StartPeriod", 0.0),
    )


def start_order(services: dict[str, dict[str, Any]]) -> list[str]:
    """Services in depends_on order (dependencies first, otherwise by name)."""
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:  # a cycle: compose rejects it; do not loop
            return
        state[name] = 1
        for dependency in sorted(_depends_on(services[name])):
            if dependency in services:
                visit(dependency)
        state[name] = 2
        order.append(name)

    for name in sorted(services):
        visit(name)
    return order


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """{dependency: condition}; compose's JSON uses the long form, tolerate the short one."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def _service_limits(service: dict[str, Any], limits: SandboxLimits) -> tuple[int, int, int]:
    """(memory bytes, nano CPUs, pids): the service's own limits, never above the ceilings."""
    deploy_limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = parse_bytes(service.get("mem_limit")) or parse_bytes(deploy_limits.get("memory"))
    cpus = float(service.get("cpus") or deploy_limits.get("cpus") or 0)
    if not cpus and service.get("cpu_quota"):
        cpus = int(service["cpu_quota"]) / int(service.get("cpu_period") or 100_000)
    pids = int(service.get("pids_limit") or deploy_limits.get("pids") or 0)
    return (
        min(memory, limits.memory_bytes) if memory > 0 else limits.memory_bytes,
        min(int(cpus * 1e9), limits.nano_cpus) if cpus > 0 else limits.nano_cpus,
        min(pids, limits.pids) if pids > 0 else limits.pids,
    )


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


@dataclass
class _Running:
    name: str
    container_id: str
    observation: ServiceObservation
    networks: list[str]


class _Session:
    """The steps of one `observe` call; state lives here, resources in the SandboxJob."""

    def __init__(
        self,
        client: docker.DockerClient,
        job: engine.SandboxJob,
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
        self.log = engine.TailBuffer(limits.log_bytes)
        self.image_id: str | None = None
        self.image_attrs: dict[str, Any] = {}
        self.networks: dict[str, str] = {}  # compose network -> job network name
        self.volumes: dict[str, str] = {}  # compose volume -> job volume name
        self.volume_paths: dict[str, Path] = {}  # job volume name -> its mountpoint on this host
        self.running: dict[str, _Running] = {}
        self.skipped: set[str] = set()
        self.deadline = engine.Deadline(limits.run_timeout_s)  # restarted when bring-up begins

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
            guard = engine.DiskGuard(
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
        outcome = engine.build_image(
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
        self.image_attrs = engine.local_image(self.client, outcome.image_id) or {}
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
            if engine.local_image(self.client, source.ref) is None:
                return (
                    f"base image not available in the sandbox ({source.what} {source.ref}, "
                    f"Dockerfile line {source.line}): nothing can be pulled here, use a local image"
                )
        return None

    def written(self) -> tuple[int, str]:
        """Bytes the job's containers wrote to their layers and to its volumes (DiskGuard)."""
        label = {"label": f"{engine.LABEL_JOB}={self.job.job_id}"}
        sizes = engine.container_writes(self.client, label)
        if engine.is_local_engine(self.client):  # volumes are only measurable on this host
            for name in dict.fromkeys(self.volumes.values()):
                if name not in self.volume_paths:
                    with engine.engine_call(f"inspecting volume {name}"):
                        self.volume_paths[name] = Path(
                            self.client.api.inspect_volume(name).get("Mountpoint") or "/nonexistent"
                        )
                sizes[f"volume {name}"] = engine.tree_bytes(self.volume_paths[name])
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
            current = engine.local_image(self.client, ref)
            labels = ((current or {}).get("Config") or {}).get("Labels") or {}
            if current is not None and engine.LABEL_JOB not in labels:
                self.note(
                    f"sandbox: the image was not tagged {ref} (that name belongs to a local image)"
                )
            else:
                with engine.engine_call(f"tagging the image {ref}"):
                    self.client.api.tag(self.image_id, split[0], split[1])
                tagged.append(f"{split[0]}:{split[1]}")
        # The name is shared by every job grading the same compose file: a concurrent job may
        # move it to its own image a moment later, so what this job tagged is taken as done
        # rather than read back from the engine.
        attrs = engine.local_image(self.client, self.image_id) or {}
        job_tag = f"{self.job.image_repo}:app"
        tags = [t for t in attrs.get("RepoTags") or [] if t != job_tag]
        self.obs.final_image_tags = [*tagged, *(t for t in tags if t not in tagged)]

    def baseline(self) -> None:
        if self.plan.dev_context is None:
            return
        baseline = engine.ensure_baseline(
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
        result = engine.scan_image_for_canaries(
            self.client, self.image_id, self.plan.canaries, max_bytes=self.limits.image_bytes
        )
        self.obs.canary_hits = result.hits
        if result.truncated:
            self.note(f"sandbox: the secret scan stopped after {result.scanned_bytes // 2**20} MiB")
        self.obs.phase_ms["scan"] = int((time.monotonic() - started) * 1000)

    # bring-up -----------------------------------------------------------------------
    def bring_up(self) -> None:
        self.deadline = deadline = engine.Deadline(self.limits.run_timeout_s)
        started = time.monotonic()
        self.create_networks()
        self.create_volumes()
        self.obs.phase_ms["networks_volumes"] = int((time.monotonic() - started) * 1000)
        for name in start_order(self.plan.services):
            if deadline.expired:
                self.fail_run(
                    f"the stack did not come up within the sandbox limit of {self.limits.run_timeout_s}s"
                )
                return
            self.start_service(name)
        if self.plan.app_service not in self.running and not self.obs.run_error:
            self.fail_run(f"the app service {self.plan.app_service!r} did not start")

    def fail_run(self, reason: str) -> None:
        if not self.obs.run_error:
            self.obs.run_error = reason

    def create_networks(self) -> None:
        declared = dict(self.plan.networks)
        for service in self.plan.services.values():
            for network in service.get("networks") or {}:
                declared.setdefault(network, {})
        if not declared:
            declared["default"] = {}
        for name, spec in sorted(declared.items()):
            if (spec or {}).get("driver") not in (None, "", "bridge"):
                self.note(
                    f"sandbox: network {name} uses a bridge network instead of {spec['driver']!r}"
                )
            self.networks[name] = self.job.create_network(f"net-{name}")

    def create_volumes(self) -> None:
        for name, spec in sorted(self.plan.volumes.items()):
            spec = spec or {}
            options = {str(k): str(v) for k, v in (spec.get("driver_opts") or {}).items()}
            device = options.get("device")
            if device and options.get("o", "").split(",").count("bind"):
                path = Path(device)
                if not self._inside_workdir(path):
                    self.note(
                        f"sandbox: volume {name} is a plain volume (its device {device} is outside the sandbox)"
                    )
                    options = {}
                else:
                    path.mkdir(parents=True, exist_ok=True)
            elif options:
                self.note(f"sandbox: volume {name} driver options ignored")
                options = {}
            self.volumes[name] = self.job.create_volume(f"vol-{name}", driver_opts=options or None)

    def _inside_workdir(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.plan.workdir.resolve())
        except ValueError:
            return False
        return True

    def start_service(self, name: str) -> None:
        plan = self.plan
        service = plan.services[name]
        critical = name in (plan.app_service, plan.db_service)
        observation = ServiceObservation(name=name)
        self.obs.services[name] = observation
        # which image
        if name == plan.app_service:
            image, image_attrs = self.image_id or "", self.image_attrs
            observation.image = plan.app_image_tag or image
        else:
            ref = service.get("image") or ""
            image_attrs = engine.local_image(self.client, ref) if ref else None
            observation.image = ref
            if image_attrs is None:
                why = (
                    f"its image {ref} is not available offline"
                    if ref
                    else "it has no image (only the app is built)"
                )
                if critical:
                    self.fail_run(
                        f"service {name} cannot run in the sandbox: {why}; use a locally available image"
                    )
                    self.skipped.add(name)
                    return
                self.note(f"sandbox: service {name} skipped: {why}")
                self.skipped.add(name)
                return
            image = image_attrs["Id"]
        health = health_spec(service, image_attrs.get("Config") or {})
        observation.healthcheck = health.test if health else None
        # dependencies
        for dependency, condition in _depends_on(service).items():
            if dependency in self.skipped and dependency not in (plan.app_service, plan.db_service):
                self.note(
                    f"sandbox: {name} started without waiting for skipped service {dependency}"
                )
                continue
            problem = self.dependency_problem(dependency, condition)
            if problem:
                self.fail_run(f"{name} was not started: {problem}")
                return
        # create and start
        self.progress(Stage.RUNNING, f"starting {name}", "")
        networks = self.service_networks(name, service)
        kwargs = self.container_kwargs(name, service, health, networks)
        try:
            container = self.job.create_container(service=name, image=image, **kwargs)
        except engine.ContainerRejected as error:
            observation.health_output = str(error)
            self.fail_run(f"{name} could not be created: {error}")
            return
        for network, aliases in networks[1:]:
            with engine.engine_call(f"connecting {name} to {network}"):
                self.client.api.connect_container_to_network(container.id, network, aliases=aliases)
        try:
            container.start()
        except docker.errors.APIError as error:
            message = engine.one_line(error)
            if not any(marker in message.lower() for marker in LEARNER_START_ERRORS):
                raise InfrastructureError(f"engine: starting {name} failed: {message}") from error
            observation.started = False
            observation.health_ok = False if health else None
            observation.health_output = message
            self.fail_run(f"{name} could not start: {message}")
            return
        except engine.ENGINE_ERRORS as error:
            raise InfrastructureError(
                f"engine: starting {name} failed: {engine.one_line(error)}"
            ) from error
        observation.started = True
        running = _Running(name, container.id, observation, [n for n, _ in networks])
        self.running[name] = running
        if health:
            self.progress(Stage.RUNNING, f"waiting for {name} to be healthy", "")
            began = time.monotonic()
            observation.health_ok, observation.health_output = self.probe_health(running, health)
            self.obs.phase_ms[f"health_{name}"] = int((time.monotonic() - began) * 1000)

    def dependency_problem(self, dependency: str, condition: str) -> str | None:
        if dependency in self.skipped:
            return f"its dependency {dependency} could not run"
        running = self.running.get(dependency)
        if running is None:
            return f"its dependency {dependency} did not start"
        if condition == "service_healthy":
            if running.observation.healthcheck is None:
                return (
                    f"it waits for {dependency} to be healthy, but {dependency} has no health check"
                )
            if not running.observation.health_ok:
                return f"its dependency {dependency} never became healthy"
        if condition == "service_completed_successfully":
            code = self.wait_exit(running)
            if code != 0:
                what = "did not finish in time" if code is None else f"exited with code {code}"
                return f"its dependency {dependency} {what}"
        return None

    def wait_exit(self, running: _Running) -> int | None:
        try:
            status = self.client.api.wait(
                running.container_id, timeout=max(1, int(self.deadline.remaining()))
            )
            return int(status.get("StatusCode", -1))
        except (TimeoutError, docker.errors.DockerException, OSError) as error:
            if isinstance(error, docker.errors.NotFound):
                raise InfrastructureError(f"engine: container {running.name} vanished") from error
            return None

    def service_networks(self, name: str, service: dict[str, Any]) -> list[tuple[str, list[str]]]:
        """[(job network, aliases)] for a service; the first one is attached at creation."""
        mode = service.get("network_mode")
        if mode == "none":
            return []
        if mode:
            self.note(f"sandbox: network_mode {mode!r} replaced by the job's default network")
        declared = service.get("networks") or {"default": None}
        result = []
        for network, spec in declared.items():
            aliases = [name, *((spec or {}).get("aliases") or [])]
            result.append((self.networks[network], aliases))
        return result

    def container_kwargs(
        self,
        name: str,
        service: dict[str, Any],
        health: HealthSpec | None,
        networks: list[tuple[str, list[str]]],
    ) -> dict[str, Any]:
        memory, nano_cpus, pids = _service_limits(service, self.limits)
        environment = {
            str(k): str(v) for k, v in (service.get("environment") or {}).items() if v is not None
        }
        security = [str(s) for s in service.get("security_opt") or []]
        unsafe = [
            s
            for s in security
            if "unconfined" in s or s.startswith(("seccomp", "apparmor", "label"))
        ]
        if unsafe:
            self.note(f"sandbox: security_opt {', '.join(unsafe)} of {name} ignored")
            security = [s for s in security if s not in unsafe]
        if not any(s.startswith("no-new-privileges") for s in security):
            security.append("no-new-privileges")
        kwargs: dict[str, Any] = {
            "command": service.get("command"),
            "entrypoint": service.get("entrypoint"),
            "environment": environment,
            "user": service.get("user") or None,
            "working_dir": service.get("working_dir") or None,
            "read_only": bool(service.get("read_only")),
            "tmpfs": self.tmpfs(service),
            "cap_add": service.get("cap_add") or None,
            "cap_drop": service.get("cap_drop") or None,
            "security_opt": security,
            "init": bool(service.get("init")) or None,
            "healthcheck": health.for_docker() if health else None,
            "mem_limit": memory,
            "memswap_limit": memory,  # no swap: an OOM is an OOM
            "nano_cpus": nano_cpus,
            "pids_limit": pids,
            "mounts": self.mounts(name, service),
            "labels": {str(k): str(v) for k, v in (service.get("labels") or {}).items()},
            "hostname": service.get("hostname") or None,
            "stop_signal": service.get("stop_signal") or None,
            "ulimits": self.ulimits(service),
            "restart_policy": {"Name": "no"},
        }
        if networks:
            first, aliases = networks[0]
            kwargs["network"] = first
            kwargs["networking_config"] = {
                first: EndpointConfig(self.client.api.api_version, aliases=aliases)
            }
        else:
            kwargs["network_mode"] = "none"
        return {k: v for k, v in kwargs.items() if v is not None}

    @staticmethod
    def tmpfs(service: dict[str, Any]) -> dict[str, str] | None:
        raw = service.get("tmpfs")
        if not raw:
            return None
        entries = [raw] if isinstance(raw, str) else list(raw)
        result = {}
        for entry in entries:
            path, _, options = str(entry).partition(":")
            result[path] = options
        return result

    @staticmethod
    def ulimits(service: dict[str, Any]) -> list[Ulimit] | None:
        raw = service.get("ulimits") or {}
        result = []
        for name, value in raw.items():
            if isinstance(value, dict):
                result.append(
                    Ulimit(
                        name=name, soft=int(value.get("soft", 0)), hard=int(value.get("hard", 0))
                    )
                )
            else:
                result.append(Ulimit(name=name, soft=int(value), hard=int(value)))
        return result or None

    def mounts(self, name: str, service: dict[str, Any]) -> list[Mount]:
        mounts: list[Mount] = []
        for index, volume in enumerate(service.get("volumes") or []):
            kind, target = volume.get("type"), volume.get("target")
            read_only = bool(volume.get("read_only"))
            if kind == "volume":
                source = volume.get("source")
                if source and source not in self.volumes:  # undeclared: compose would refuse
                    self.volumes[source] = self.job.create_volume(f"vol-{source}")
                job_volume = (
                    self.volumes[source]
                    if source
                    else self.job.create_volume(f"anon-{name}-{index}")
                )
                mounts.append(Mount(target, job_volume, type="volume", read_only=read_only))
            elif kind == "bind":
                source = Path(volume.get("source") or "")
                if not self._inside_workdir(source) or not source.exists():
                    self.note(
                        f"sandbox: bind mount {source} -> {target} of {name} skipped (outside the sandbox)"
                    )
                    continue
                mounts.append(
                    Mount(target, str(source.resolve()), type="bind", read_only=read_only)
                )
            elif kind == "tmpfs":
                size = parse_bytes((volume.get("tmpfs") or {}).get("size"))
                mounts.append(Mount(target, None, type="tmpfs", tmpfs_size=size or None))
            else:
                self.note(f"sandbox: {kind} mount {target} of {name} skipped")
        mounts.extend(self.secret_mounts(name, service))
        return mounts

    def secret_mounts(self, name: str, service: dict[str, Any]) -> list[Mount]:
        """Secrets as read-only files under /run/secrets, from a job-private copy that carries
        the long syntax's mode/uid/gid (world-readable by default, as compose's bind is)."""
        mounts = []
        for secret in service.get("secrets") or []:
            if isinstance(secret, str):
                secret = {"source": secret}
            source = secret.get("source")
            path = self.plan.secrets.get(source)
            if path is None:
                self.note(f"sandbox: secret {source} of {name} has no file; not mounted")
                continue
            path = path if path.is_absolute() else self.plan.workdir / path
            target = str(secret.get("target") or source)
            if not target.startswith("/"):
                target = f"/run/secrets/{target}"
            copy = self.plan.workdir / SANDBOX_DIR / "secrets" / name / source
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
            mode = secret.get("mode")
            copy.chmod(
                int(mode, 8) if isinstance(mode, str) else int(mode) if mode is not None else 0o444
            )
            uid, gid = secret.get("uid"), secret.get("gid")
            if uid is not None or gid is not None:
                with contextlib.suppress(OSError, ValueError):
                    os.chown(
                        copy,
                        int(uid) if uid is not None else -1,
                        int(gid) if gid is not None else -1,
                    )
            mounts.append(Mount(target, str(copy), type="bind", read_only=True))
        return mounts

    # health ---------------------------------------------------------------------------
    def probe_health(self, running: _Running, health: HealthSpec) -> tuple[bool, str]:
        """Run the service's own health test via exec until it passes or its budget is spent."""
        budget = engine.Deadline(min(health.budget_s, self.deadline.remaining()))
        last = "no probe ran"
        attempts = 0
        while True:
            attempts += 1
            result = self.job.exec(
                running.container_id,
                health.argv,
                timeout=max(0.5, min(health.timeout_s, budget.remaining())),
            )
            if result.ok:
                return True, engine.one_line(result.output or "ok", 500)
            if result.timed_out:
                last = f"timed out after {health.timeout_s:g}s"
            elif result.error:
                last = result.error
            else:
                last = (
                    f"exit code {result.exit_code}: {engine.one_line(result.output, 300)}".rstrip(
                        ": "
                    )
                )
            state = self.container_state(running.container_id)
            if not state.get("Running"):
                why = (
                    "was killed: out of memory"
                    if state.get("OOMKilled")
                    else f"exited with code {state.get('ExitCode')}"
                )
                return False, f"the container {why} (last probe: {last})"
            if result.exit_code in (126, 127) and re.search(
                r"not found|no such file", result.output, re.I
            ):
                return False, f"the health check command cannot run in this image: {last}"
            if budget.expired:
                return (
                    False,
                    f"not healthy after {budget.seconds:.0f}s and {attempts} probes; last: {last}",
                )
            time.sleep(min(HEALTH_RETRY_S, budget.remaining()))

    def container_state(self, container_id: str) -> dict[str, Any]:
        with engine.engine_call("inspecting a container"):
            return self.client.api.inspect_container(container_id).get("State") or {}

    # HTTP probe -------------------------------------------------------------------------
    def app_port(self) -> int:
        environment = (self.plan.services.get(self.plan.app_service) or {}).get("environment") or {}
        if str(environment.get("PORT") or "").isdigit():
            return int(environment["PORT"])
        exposed = (self.image_attrs.get("Config") or {}).get("ExposedPorts") or {}
        for spec in sorted(exposed):
            number, _, protocol = spec.partition("/")
            if protocol in ("", "tcp") and number.isdigit():
                return int(number)
        return DEFAULT_APP_PORT

    def probe_http(self) -> None:
        app = self.running.get(self.plan.app_service)
        state = self.container_state(app.container_id) if app else {}
        if app is None or not app.networks or not state.get("Running"):
            self.obs.http_health_detail = "not probed: the app is not running"
            return
        image = next((ref for ref in PROBE_IMAGES if engine.local_image(self.client, ref)), None)
        if image is None:
            self.note("sandbox: no local image with wget for the HTTP probe; /health not checked")
            return
        url = f"http://{self.plan.app_service}:{self.app_port()}/health"
        self.progress(Stage.PROBING, f"GET {url}", "")
        budget = min(HTTP_PROBE_BUDGET_S, max(2.0, self.deadline.remaining()))
        attempts = max(1, int(budget / 1.5))
        # `timeout` rather than `wget -T`: Debian's busybox 1.35 wget segfaults on -T.
        script = (
            'i=0; while [ "$i" -lt "$N" ]; do '
            'out=$(timeout 4 wget -S -O /dev/null "$URL" 2>&1); '
            'case "$out" in *HTTP/*) echo "$out"; exit 0;; esac; '
            'i=$((i+1)); sleep 0.5; done; echo "$out"; exit 1'
        )
        began = time.monotonic()
        result = self.job.run_probe(
            image=image,
            network=app.networks[0],
            argv=["sh", "-c", script.replace("$N", str(attempts)).replace("$URL", url)],
            timeout=budget + 5,
        )
        self.obs.phase_ms["http_probe"] = int((time.monotonic() - began) * 1000)
        statuses = re.findall(r"HTTP/\d(?:\.\d)? (\d{3})", result.output)
        if statuses:
            self.obs.http_health_status = int(statuses[-1])
            self.obs.http_health_detail = f"GET {url} -> {statuses[-1]}"
        else:
            why = (
                "timed out"
                if result.timed_out
                else engine.one_line(result.output or "no answer", 200)
            )
            self.obs.http_health_detail = f"GET {url} failed: {why}"

    # collection ---------------------------------------------------------------------------
    def collect(self) -> None:
        self.progress(Stage.PROBING, "collecting results", "")
        app = self.running.get(self.plan.app_service)
        if app is not None and self.container_state(app.container_id).get("Running"):
            app.observation.uid = self.uid_of(app)
        for running in self.running.values():
            observation = running.observation
            with engine.engine_call(f"inspecting {running.name}"):
                attrs = self.client.api.inspect_container(running.container_id)
                raw_logs = self.client.api.logs(
                    running.container_id, stdout=True, stderr=True, tail=200
                )
            state, host = attrs.get("State") or {}, attrs.get("HostConfig") or {}
            observation.memory_limit = int(host.get("Memory") or 0)
            nano = int(host.get("NanoCpus") or 0)
            if not nano and host.get("CpuQuota"):
                nano = int(host["CpuQuota"] * 1e9 / (host.get("CpuPeriod") or 100_000))
            observation.nano_cpus = nano
            observation.oom_killed = bool(state.get("OOMKilled"))
            if not state.get("Running"):
                observation.exit_code = state.get("ExitCode")
            text = raw_logs.decode("utf-8", "replace")
            observation.logs_tail = text[-LOG_TAIL_BYTES:]
            self.log.add(f"\n==> {running.name} (last lines) <==\n{text[-LOG_TAIL_BYTES:]}")
            if observation.oom_killed:
                self.fail_run(
                    f"{running.name} was killed: out of memory (limit {observation.memory_limit // 2**20} MiB)"
                )
            elif observation.exit_code not in (None, 0) and running.name == self.plan.app_service:
                self.fail_run(f"{running.name} exited with code {observation.exit_code}")

    def uid_of(self, app: _Running) -> str | None:
        """`id -u` inside the app; images without `id` (distroless) via the process table."""
        result = self.job.exec(app.container_id, ["id", "-u"], timeout=5)
        if result.ok and result.output.strip().isdigit():
            return result.output.strip()
        with contextlib.suppress(docker.errors.APIError):
            top = self.client.api.top(app.container_id, ps_args="-o pid,uid")
            titles = top.get("Titles") or []
            if "UID" in titles and top.get("Processes"):
                self.note(
                    "sandbox: the app's uid was read from its process table (no `id` in the image)"
                )
                return str(top["Processes"][0][titles.index("UID")]).strip()
        return None


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
