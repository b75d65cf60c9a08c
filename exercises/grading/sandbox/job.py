"""`SandboxJob`: the owner of every engine resource of one grading job (STYLE.md rule 6).

Everything one grading job creates on the engine (containers, networks, volumes, images) is
created through it and labelled `org.drydock.job=<job_id>`; its `__exit__` kills and removes
them whatever happened. `janitor` removes what crashed workers left behind.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import EndpointConfig

from ..types import SandboxLimits
from .client import (
    LABEL_JOB,
    LABEL_MANAGED,
    LABEL_SERVICE,
    LOG_MAX_SIZE,
    NETWORK_NO_HOST_ADDRESS,
    engine_call,
)
from .errors import (
    ENGINE_ERRORS,
    ContainerRejected,
    Origin,
    SandboxUserError,
    engine_error,
    one_line,
    removal_in_progress,
)
from .probes import ExecResult, exec_in

log = logging.getLogger(__name__)
HELPER_LIFETIME_S = 300  # longer than any run; the teardown kills it long before


@dataclass
class _Owned:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)


class SandboxJob:
    """Owns the engine resources of one grading job and always releases them.

    Everything is created through this object, named `drydock-<job_id>-…` and labelled
    `org.drydock.job=<job_id>` (+ `org.drydock.managed=1` on containers); `__exit__` kills and removes the
    containers, then the networks, volumes and job images, tracked ones first and then
    anything else found by the job label. Shared images (stand-ins, the dev baseline) are
    never touched.
    """

    def __init__(self, client: docker.DockerClient, job_id: str, limits: SandboxLimits) -> None:
        if not re.fullmatch(r"[a-z0-9]{1,40}", job_id):
            raise ValueError(f"job_id must be 1-40 chars of [a-z0-9], got {job_id!r}")
        self.client = client
        self.job_id = job_id
        self.limits = limits
        self.owned = _Owned()
        self.teardown_errors: list[str] = []
        self.teardown_ms = 0

    # context manager ---------------------------------------------------------------
    def __enter__(self) -> SandboxJob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    # naming ------------------------------------------------------------------------
    def name(self, suffix: str) -> str:
        clean = re.sub(r"[^a-zA-Z0-9_.-]", "-", suffix).strip("-.") or "x"
        return f"drydock-{self.job_id}-{clean}"[:120]

    @property
    def image_repo(self) -> str:
        return f"drydock/job-{self.job_id}"

    def labels(
        self, service: str | None = None, extra: dict[str, str] | None = None
    ) -> dict[str, str]:
        labels = dict(extra or {})
        labels.update({LABEL_JOB: self.job_id, LABEL_MANAGED: "1"})
        if service:
            labels[LABEL_SERVICE] = service
        return labels

    # resources ---------------------------------------------------------------------
    def track_image(self, image_id: str) -> None:
        self.owned.images.append(image_id)

    def create_network(self, suffix: str) -> str:
        """An internal bridge network whose bridge has no address on the host.

        `internal` only stops forwarding; the host itself still answers on the bridge's
        gateway address, so a container could reach every host service listening on
        0.0.0.0. Inhibiting the bridge's IPv4 address leaves the host nothing to answer on,
        while containers on the network still reach each other.
        """
        name = self.name(suffix)
        with engine_call(f"creating network {name}"):
            network = self.client.api.create_network(
                name, driver="bridge", internal=True, labels=self.labels(), check_duplicate=True,
                options={NETWORK_NO_HOST_ADDRESS: "true"},
            )  # fmt: skip
        self.owned.networks.append(network["Id"])
        return name

    def create_volume(self, suffix: str, *, driver_opts: dict[str, str] | None = None) -> str:
        name = self.name(suffix)
        with engine_call(f"creating volume {name}"):
            self.client.api.create_volume(
                name, driver="local", driver_opts=driver_opts or None, labels=self.labels()
            )
        self.owned.volumes.append(name)
        return name

    def create_container(self, *, service: str, image: str, **kwargs: Any) -> Container:
        """Create (not start) a container with the sandbox ceilings the caller computed."""
        kwargs["labels"] = self.labels(service, kwargs.get("labels"))
        kwargs.setdefault(
            "log_config",
            docker.types.LogConfig(
                type="json-file", config={"max-size": LOG_MAX_SIZE, "max-file": "1"}
            ),
        )
        kwargs.setdefault("name", self.name(service))
        kwargs["ports"] = None
        kwargs["publish_all_ports"] = False
        try:
            container = self.client.containers.create(image, **kwargs)
        except ENGINE_ERRORS as error:
            mapped = engine_error(error, f"creating container for {service}", Origin.LEARNER_CONFIG)
            if isinstance(mapped, SandboxUserError):
                raise ContainerRejected(mapped.detail) from error
            raise mapped from error
        self.owned.containers.append(container.id)
        return container

    def exec(
        self, container_id: str, argv: list[str], *, timeout: float, user: str = ""
    ) -> ExecResult:
        return exec_in(self.client, container_id, argv, timeout=timeout, user=user)

    def start_helper(self, *, image: str, networks: list[tuple[str, list[str]]]) -> str:
        """A locked-down helper container on job networks (with these names), idle until the
        job's teardown: the HTTP probe runs in it, and it later stands in for a stopped
        service (`rename_helper`). One container instead of two: each costs about 0.3 CPU-s
        of the engine's, an exec in it a seventh of that."""
        (first, aliases), others = networks[0], networks[1:]
        container = self.create_container(
            service="helper",
            image=image,
            name=self.name("helper"),
            command=["sleep", str(HELPER_LIFETIME_S)],
            entrypoint=[],
            user="65534:65534",
            network=first,
            networking_config={first: EndpointConfig(self.client.api.api_version, aliases=aliases)},
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=64 * 2**20,
            memswap_limit=64 * 2**20,
            nano_cpus=min(self.limits.nano_cpus, 500_000_000),
            pids_limit=32,
        )
        with engine_call("starting the helper container"):
            for network, names in others:
                self.client.api.connect_container_to_network(container.id, network, aliases=names)
            container.start()
        return container.id

    def rename_helper(
        self, container_id: str, *, now: list[str], then: list[tuple[str, list[str]]]
    ) -> None:
        """Move the helper from the networks `now` to `then`, answering to those names: it
        listens on nothing, so a connection to a stopped service it stands in for is refused
        at once, as on a machine where that service is down."""
        with engine_call("reconnecting the helper container"):
            for network in now:
                self.client.api.disconnect_container_from_network(container_id, network)
            for network, names in then:
                self.client.api.connect_container_to_network(container_id, network, aliases=names)

    def kill_containers(self) -> None:
        """SIGKILL every container of this job now; they stay for inspection until teardown."""
        label = {"label": f"{LABEL_JOB}={self.job_id}"}
        with contextlib.suppress(*ENGINE_ERRORS):
            for container in self.client.api.containers(filters=label):
                with contextlib.suppress(*ENGINE_ERRORS):
                    self.client.api.kill(container["Id"])

    # teardown ----------------------------------------------------------------------
    def teardown(self) -> None:
        """Kill and remove everything of this job; errors are logged (the janitor is the backstop)."""
        started = time.monotonic()
        label = f"{LABEL_JOB}={self.job_id}"
        try:
            found = [
                c["Id"] for c in self.client.api.containers(all=True, filters={"label": label})
            ]
        except ENGINE_ERRORS as error:
            found = []
            self.teardown_errors.append(f"listing containers: {one_line(error)}")
        containers = list(dict.fromkeys(self.owned.containers + found))
        for container_id in containers:  # kill everything first: SIGKILL is immediate
            with contextlib.suppress(*ENGINE_ERRORS):
                self.client.api.kill(container_id)
        for container_id in containers:
            self._remove_container(container_id)
        self._remove_all("networks", label, self.owned.networks)
        self._remove_all("volumes", label, self.owned.volumes)
        self._remove_all("images", label, self.owned.images)
        self.teardown_ms = int((time.monotonic() - started) * 1000)
        for error in self.teardown_errors:
            log.warning("teardown of job %s: %s", self.job_id, error)

    def _remove_container(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except ENGINE_ERRORS as error:
            if not removal_in_progress(error):
                self.teardown_errors.append(f"container {container_id[:12]}: {one_line(error)}")

    def _remove_all(self, kind: str, label: str, owned: list[str]) -> None:
        api = self.client.api
        try:
            if kind == "networks":
                found = [n["Id"] for n in api.networks(filters={"label": label})]
            elif kind == "volumes":
                found = [
                    v["Name"] for v in (api.volumes(filters={"label": label}).get("Volumes") or [])
                ]
            else:
                found = [i["Id"] for i in api.images(all=True, filters={"label": label})]
        except ENGINE_ERRORS as error:
            found = []
            self.teardown_errors.append(f"listing {kind}: {one_line(error)}")
        pending = list(dict.fromkeys(owned + found))
        for _ in range(len(pending) + 1):  # images: a child must go before its parent
            failed: list[tuple[str, BaseException]] = []
            for ref in pending:
                try:
                    if kind == "networks":
                        api.remove_network(ref)
                    elif kind == "volumes":
                        api.remove_volume(ref, force=True)
                    else:
                        # noprune keeps the untagged parent layers: they are the build cache of
                        # the next job (`janitor` prunes them past its budget). Only the last
                        # steps of a build carry the job label (the builder appends one LABEL
                        # step per build label), so these images are this job's alone.
                        api.remove_image(ref, force=True, noprune=True)
                except docker.errors.NotFound:
                    pass
                except ENGINE_ERRORS as error:
                    failed.append((ref, error))
            if not failed or len(failed) == len(pending):
                break
            pending = [ref for ref, _ in failed]
        for ref, error in failed:
            self.teardown_errors.append(f"{kind[:-1]} {ref[:24]}: {one_line(error)}")
