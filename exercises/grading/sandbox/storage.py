"""A job's volumes: tmpfs-backed, capped in bytes and inodes, filled through the engine's API.

Why not the engine's default local volumes: what a container writes into one is counted by
nothing (a Dockerfile `VOLUME` or an anonymous compose volume took 4 GiB against a 2 GiB
limit), and a bind-mounted host directory is a path a container can swap for a symlink. Here
every volume of a job is a local volume of type tmpfs with `size=` and `nr_inodes=` (the
kernel stops the writer with ENOSPC, and the pages count against the writer's memory limit),
created up front. One *holder* container of the job keeps them all mounted for the job's
lifetime (a tmpfs lives only while mounted), never joins a network, has no capabilities and
a read-only root; files that must be in a volume before a service starts (a copy of a
bind-mounted project directory, secrets) are extracted into the holder's mount of it with
`put_archive`, by the engine, under its user namespace. Nothing is read back from a volume.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping

from docker.types import Mount

from ..types import InfrastructureError, ProjectFile, SandboxLimits
from .client import engine_call, local_image, remapped_root
from .files import VolumeSize, tar_bytes
from .job import SandboxJob

HOLDER_IMAGES = ("busybox:latest", "alpine:latest")  # stand-ins with `sleep` and `wget`
NO_HOLDER_IMAGE = "engine: no stand-in image to hold the job's volumes (busybox:latest is missing)"
HOLDER_MEMORY = 32 * 2**20
HOLDER_PIDS = 16  # sleep, and the HTTP probe's sh, timeout, wget and sleep
HOLDER_ATTEMPTS, HOLDER_RETRY_S = 3, 1.0


class JobStorage:
    """Every volume of one job, by key (compose volume name, bind source, secret directory)."""

    def __init__(self, job: SandboxJob, limits: SandboxLimits, note: Callable[[str], None]):
        self.job = job
        self.limits = limits
        self.note = note
        self.volumes: dict[str, str] = {}  # key -> job volume name
        self.contents: dict[str, dict[str, ProjectFile]] = {}  # job volume -> files to put
        self.holder: str | None = None

    def size(self, requested: int = 0) -> VolumeSize:
        limit = self.limits.volume_bytes
        return VolumeSize(
            min(requested, limit) if requested > 0 else limit, self.limits.volume_inodes
        )

    def volume(self, key: str, *, files: Mapping[str, ProjectFile] | None = None) -> str:
        """The job volume for `key`, created on first use (with `files` as its content)."""
        if key not in self.volumes:
            if self.holder is not None:
                raise InfrastructureError(f"engine: volume {key} requested after the job started")
            suffix = "vol-" + hashlib.sha256(key.encode()).hexdigest()[:12]
            owner = remapped_root(self.job.client)
            name = self.job.create_volume(suffix, driver_opts=self.size().driver_opts(owner))
            self.volumes[key] = name
            if files:
                self.contents[name] = dict(files)
        return self.volumes[key]

    def start(self, *, network: str | None = None) -> str | None:
        """Start the holder with every volume mounted, then put the volumes' files in; its
        id, or None when the job has no volume. On `network` (it listens on nothing), it
        doubles as the job's helper (the probes' `helper`): a container fewer per job."""
        if not self.volumes:
            return None
        image = next((ref for ref in HOLDER_IMAGES if local_image(self.job.client, ref)), None)
        if image is None:
            raise InfrastructureError(NO_HOLDER_IMAGE)
        mounts = [
            Mount(f"/v/{name}", name, type="volume")
            for name in dict.fromkeys(self.volumes.values())
        ]
        for attempt in range(HOLDER_ATTEMPTS):
            container = self.job.create_container(
                service="holder", image=image, command=["sleep", "86400"], entrypoint=[],
                user="65534:65534", read_only=True, cap_drop=["ALL"],
                **({"network": network} if network else {"network_mode": "none"}),
                security_opt=["no-new-privileges:true"], mem_limit=HOLDER_MEMORY,
                memswap_limit=HOLDER_MEMORY, pids_limit=HOLDER_PIDS, mounts=mounts,
                name=self.job.name(f"holder-{attempt}"),
            )  # fmt: skip
            try:
                with engine_call("starting the job's volume holder"):
                    container.start()
                break
            except InfrastructureError:
                # The engine answers 500 now and then ("cannot start a stopped process"),
                # e.g. while a previous job's processes are still dying: try a fresh one.
                if attempt == HOLDER_ATTEMPTS - 1:
                    raise
                time.sleep(HOLDER_RETRY_S)
        self.holder = container.id
        for name, files in self.contents.items():
            with engine_call(f"copying files into volume {name}"):
                container.put_archive(f"/v/{name}", tar_bytes(files))
        return self.holder
