"""Bring-up of a normalised stack without docker-compose (the starting half of the session).

The plan is already `docker-compose config` output with the sandbox normalisation applied, so
translating it to containers directly is faster and gives control: health checks are probed
right after each start, dependents start as soon as their `depends_on` conditions hold, and
nothing is ever published, pulled or left behind (`SandboxJob` owns and releases everything).
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, field
from typing import Any

import docker.errors
from docker.types import Mount

from ..types import InfrastructureError, ServiceObservation, Stage
from .client import Deadline, engine_call, standin_image
from .containers import Share, job_shares, service_share
from .errors import ContainerRejected, Origin, StartRefused
from .files import tar_bytes
from .health import HealthSpec, health_spec
from .substitutes import substitute, substitute_note


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


@dataclass
class _Running:
    name: str
    container_id: str
    observation: ServiceObservation
    networks: list[str]


@dataclass
class _Prepared:
    """A service ready to start: its image, health check, resources and mounts."""

    image: str
    image_attrs: dict[str, Any]
    health: HealthSpec | None
    share: Share
    mounts: list[Mount] = field(default_factory=list)


class _Stack:
    """Networks, volumes and services in start order (see `_Session`)."""

    # bring-up -----------------------------------------------------------------------
    def bring_up(self) -> None:
        """Everything is decided and created before the first learner container starts:
        images (only the job's own and the stand-ins), shares of the job's ceilings, volumes."""
        self.deadline = deadline = Deadline(self.limits.run_timeout_s)
        started = time.monotonic()
        self.create_networks()
        order = start_order(self.plan.services)
        prepared = {name: p for name in order if (p := self.prepare_service(name)) is not None}
        if self.obs.run_error:
            return
        for note in job_shares({name: p.share for name, p in prepared.items()}, self.limits):
            self.note(note)
        for name, service in prepared.items():
            service.mounts = self.mounts(
                name, self.plan.services[name], service.image_attrs.get("Config") or {}
            )
        app = self.plan.services.get(self.plan.app_service) or {}
        first = next(iter(self.network_aliases(self.plan.app_service, app)), None)
        holder = self.storage.start(network=first[0] if first else None)
        if holder and first:
            self.helper = (holder, [(first[0], [])])  # the HTTP probe runs in it
        self.obs.phase_ms["networks_volumes"] = int((time.monotonic() - started) * 1000)
        for name in order:
            if deadline.expired:
                self.fail_run(
                    f"the stack did not come up within the sandbox limit of {self.limits.run_timeout_s}s"
                )
                return
            if name in prepared:
                self.start_service(name, prepared[name])
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

    def service_image(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """(image id, attrs) a service may run: the job's own built image (the app, or any
        service naming the app's image) or a stand-in base image; None for anything else
        (another job's image, a baseline, a missing one: the same answer, no oracle)."""
        plan = self.plan
        ref = str(self.plan.services[name].get("image") or "")
        if name == plan.app_service or (ref and ref == plan.app_image_tag):
            return (self.image_id or "", self.image_attrs) if self.image_id else None
        attrs = standin_image(self.client, ref) if ref else None
        note = substitute_note(attrs, ref) if attrs else None
        if attrs is None and ref and (found := substitute(self.client, ref)):
            attrs, note = found
        if note:
            self.note(note)
        return (attrs["Id"], attrs) if attrs else None

    def prepare_service(self, name: str) -> _Prepared | None:
        plan = self.plan
        service = plan.services[name]
        critical = name in (plan.app_service, plan.db_service)
        observation = ServiceObservation(name=name)
        self.obs.services[name] = observation
        ref = str(service.get("image") or "")
        observation.image = plan.app_image_tag if name == plan.app_service else ref
        found = self.service_image(name)
        if found is None:
            why = (
                f"its image {ref} is not available in the sandbox (not one of its base images)" if ref
                else "it has no image (only the app is built)"
            )  # fmt: skip
            self.skipped.add(name)
            if critical:
                self.fail_run(
                    f"service {name} cannot run in the sandbox: {why}; use a base image the "
                    "sandbox provides (or your own app image)"
                )
            else:
                self.note(f"sandbox: service {name} skipped: {why}")
            return None
        image, attrs = found
        health = health_spec(service, attrs.get("Config") or {})
        observation.healthcheck = health.test if health else None
        if health:
            self.health_specs[name] = health
        return _Prepared(image, attrs, health, service_share(service, self.limits))

    def start_service(self, name: str, prepared: _Prepared) -> None:
        plan = self.plan
        service = plan.services[name]
        observation = self.obs.services[name]
        health = prepared.health
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
        kwargs = self.container_kwargs(
            name, service, health, networks, prepared.share, prepared.mounts
        )
        try:
            container = self.job.create_container(service=name, image=prepared.image, **kwargs)
        except ContainerRejected as error:
            observation.health_output = str(error)
            self.fail_run(f"{name} could not be created: {error}")
            return
        self.put_file_binds(name, container, read_only=bool(kwargs.get("read_only")))
        for network, aliases in networks[1:]:
            with engine_call(f"connecting {name} to {network}", Origin.LEARNER_CONFIG):
                self.client.api.connect_container_to_network(container.id, network, aliases=aliases)
        try:
            with engine_call(f"starting {name}", Origin.LEARNER_START):
                container.start()
        except StartRefused as error:
            message = error.detail
            observation.started = False
            observation.health_ok = False if health else None
            observation.health_output = message
            self.fail_run(f"{name} could not start: {message}")
            return
        observation.started = True
        running = _Running(name, container.id, observation, [n for n, _ in networks])
        self.running[name] = running
        if health:
            self.progress(Stage.RUNNING, f"waiting for {name} to be healthy", "")
            began = time.monotonic()
            observation.health_ok, observation.health_output = self.probe_health(running, health)
            self.obs.phase_ms[f"health_{name}"] = int((time.monotonic() - began) * 1000)

    def put_file_binds(self, name: str, container: Any, *, read_only: bool) -> None:
        """A bind of a single project file: copied into the created container (a volume can
        only stand in for a directory). A read-only root cannot receive it: noted."""
        for target, entry in sorted(self.file_binds.get(name, {}).items()):
            if read_only:
                self.note(
                    f"sandbox: the file bind -> {target} of {name} was not copied (read-only "
                    "container); bind a directory instead"
                )
                continue
            directory, filename = posixpath.split(posixpath.normpath(target))
            with engine_call(f"copying {target} into {name}", Origin.LEARNER_CONFIG):
                container.put_archive(directory, tar_bytes({filename: entry}))

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
        if mode and mode != "none":
            self.note(f"sandbox: network_mode {mode!r} replaced by the job's default network")
        return self.network_aliases(name, service)

    def network_aliases(self, name: str, service: dict[str, Any]) -> list[tuple[str, list[str]]]:
        """[(job network, the names the service answers to there)]."""
        if service.get("network_mode") == "none":
            return []
        declared = service.get("networks") or {"default": None}
        return [
            (self.networks[network], [name, *((spec or {}).get("aliases") or [])])
            for network, spec in declared.items()
        ]
