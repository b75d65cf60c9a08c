"""A compose service translated to `containers.create` arguments under the sandbox ceilings:
limits (per container and shared per job), security options the learner cannot turn off,
mounts (every volume a capped job volume, binds as copies, secrets), tmpfs and ulimits."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from docker.types import EndpointConfig, Mount, Ulimit

from ..capabilities import FORCED_CAP_DROP, GRANTABLE, cap_name
from ..jobspec import OUTSIDE
from ..types import ProjectFile, SandboxLimits
from .files import subtree
from .health import HealthSpec, parse_bytes

FORCED_SECURITY_OPT = "no-new-privileges:true"
MIN_SHARE_MEMORY = 32 * 2**20
SECRETS_DIR = "/run/secrets"


@dataclass
class Share:
    """A container's resources: the learner's own limit (0 = none), what it gets here."""

    memory: int
    nano_cpus: int
    pids: int
    asked_memory: int = 0
    asked_nano_cpus: int = 0
    asked_pids: int = 0


def service_share(service: dict[str, Any], limits: SandboxLimits) -> Share:
    """The service's own limits, never above the per-container ceilings."""
    deploy_limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = parse_bytes(service.get("mem_limit")) or parse_bytes(deploy_limits.get("memory"))
    cpus = float(service.get("cpus") or deploy_limits.get("cpus") or 0)
    if not cpus and service.get("cpu_quota"):
        cpus = int(service["cpu_quota"]) / int(service.get("cpu_period") or 100_000)
    pids = int(service.get("pids_limit") or deploy_limits.get("pids") or 0)
    return Share(
        memory=min(memory, limits.memory_bytes) if memory > 0 else limits.memory_bytes,
        nano_cpus=min(int(cpus * 1e9), limits.nano_cpus) if cpus > 0 else limits.nano_cpus,
        pids=min(pids, limits.pids) if pids > 0 else limits.pids,
        asked_memory=max(memory, 0), asked_nano_cpus=max(int(cpus * 1e9), 0),
        asked_pids=max(pids, 0),
    )  # fmt: skip


def job_shares(shares: dict[str, Share], limits: SandboxLimits) -> list[str]:
    """Scale the services' shares down so that together they fit the job's ceilings; the
    sandbox notes saying so. (The holder and probe containers are tiny and not counted.)"""
    notes = []
    for field, ceiling, what in (
        ("memory", limits.job_memory_bytes, f"{limits.job_memory_bytes // 2**20} MiB of memory"),
        ("nano_cpus", limits.job_nano_cpus, f"{limits.job_nano_cpus / 1e9:g} CPUs"),
        ("pids", limits.job_pids, f"{limits.job_pids} processes"),
    ):
        total = sum(getattr(share, field) for share in shares.values())
        if total <= ceiling:
            continue
        for share in shares.values():
            scaled = int(getattr(share, field) * ceiling / total)
            floor = MIN_SHARE_MEMORY if field == "memory" else 1 if field == "pids" else 10_000_000
            setattr(share, field, max(scaled, floor))
        notes.append(
            f"sandbox: the job's {len(shares)} services share the sandbox's {what}; "
            "each service's share was scaled down to fit"
        )
    return notes


class _ContainerSpecs:
    """How the session turns one service into container arguments (see `_Session`)."""

    def container_kwargs(
        self,
        name: str,
        service: dict[str, Any],
        health: HealthSpec | None,
        networks: list[tuple[str, list[str]]],
        share: Share,
        mounts: list[Mount],
    ) -> dict[str, Any]:
        environment = {
            str(k): str(v) for k, v in (service.get("environment") or {}).items() if v is not None
        }
        kwargs: dict[str, Any] = {
            "command": service.get("command"),
            "entrypoint": service.get("entrypoint"),
            "environment": environment,
            "user": service.get("user") or None,
            "working_dir": service.get("working_dir") or None,
            "read_only": bool(service.get("read_only")),
            "tmpfs": self.tmpfs(service),
            "cap_add": self.cap_add(name, service),
            "cap_drop": sorted({*(service.get("cap_drop") or []), FORCED_CAP_DROP}),
            "security_opt": self.security_opt(name, service),
            "init": bool(service.get("init")) or None,
            "healthcheck": health.for_docker() if health else None,
            "mem_limit": share.memory,
            "memswap_limit": share.memory,  # no swap: an OOM is an OOM
            "nano_cpus": share.nano_cpus,
            "pids_limit": share.pids,
            "mounts": mounts,
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

    def security_opt(self, name: str, service: dict[str, Any]) -> list[str]:
        """The learner's options minus what would weaken the sandbox; no-new-privileges is
        always on (a learner's `no-new-privileges:false` cannot turn it off)."""
        security = [str(s) for s in service.get("security_opt") or []]
        unsafe = [
            s
            for s in security
            if "unconfined" in s
            or s.startswith(("seccomp", "apparmor", "label", "systempaths"))
            or (s.startswith("no-new-privileges") and s.split(":")[-1].split("=")[-1] == "false")
        ]
        if unsafe:
            self.note(f"sandbox: security_opt {', '.join(unsafe)} of {name} ignored")
        kept = [s for s in security if s not in unsafe and not s.startswith("no-new-privileges")]
        return [*kept, FORCED_SECURITY_OPT]

    def cap_add(self, name: str, service: dict[str, Any]) -> list[str] | None:
        """Only capabilities Docker grants by default, never NET_RAW (the policy's
        normalisation already removed the others; this is the last line)."""
        wanted = [cap_name(c) for c in service.get("cap_add") or []]
        refused = [c for c in wanted if c not in GRANTABLE]
        if refused:
            self.note(f"sandbox: cap_add {', '.join(refused)} of {name} ignored")
        kept = [c for c in wanted if c not in refused]
        return kept or None

    def tmpfs(self, service: dict[str, Any]) -> dict[str, str] | None:
        """The service's tmpfs mounts, each with a size (the learner's, at most the volume
        ceiling) and an inode count, so none can eat the memory of the whole job."""
        raw = service.get("tmpfs")
        if not raw:
            return None
        entries = [raw] if isinstance(raw, str) else list(raw)
        result = {}
        for entry in entries:
            path, _, options = str(entry).partition(":")
            kept = [
                o for o in options.split(",") if o and not o.startswith(("size=", "nr_inodes="))
            ]
            asked = next(
                (parse_bytes(o[5:]) for o in options.split(",") if o.startswith("size=")), 0
            )
            size = self.storage.size(asked)
            result[path] = ",".join([*kept, f"size={size.bytes}", f"nr_inodes={size.inodes}"])
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

    def mounts(
        self, name: str, service: dict[str, Any], image_config: dict[str, Any]
    ) -> list[Mount]:
        """Every mount of a service as a job volume: named and anonymous volumes, binds (a
        copy of the project directory they name), the image's own VOLUMEs, tmpfs, secrets."""
        mounts: list[Mount] = []
        for index, volume in enumerate(service.get("volumes") or []):
            kind, target = volume.get("type"), volume.get("target")
            read_only = bool(volume.get("read_only"))
            if kind == "volume":
                source = volume.get("source")
                key = f"volume:{source}" if source else f"anonymous:{name}:{index}"
                mounts.append(
                    Mount(
                        target, self.named_volume(key, source), type="volume", read_only=read_only
                    )
                )
            elif kind == "bind":
                mount = self.bind_mount(name, volume)
                if mount is not None:
                    mounts.append(mount)
            elif kind == "tmpfs":
                size = self.storage.size(parse_bytes((volume.get("tmpfs") or {}).get("size")))
                mounts.append(Mount(target, None, type="tmpfs", tmpfs_size=size.bytes))
            else:
                self.note(f"sandbox: {kind} mount {target} of {name} skipped")
        mounts.extend(self.secret_mounts(name, service))
        # The image's VOLUMEs: without a mount of ours the engine would make an uncapped one.
        taken = {m["Target"] for m in mounts} | set(self.tmpfs(service) or {})
        for index, target in enumerate(sorted(image_config.get("Volumes") or {})):
            if target not in taken:
                key = f"image-volume:{name}:{index}"
                mounts.append(Mount(target, self.storage.volume(key), type="volume"))
        return mounts

    def named_volume(self, key: str, source: str | None) -> str:
        spec = (self.plan.volumes.get(source) or {}) if source else {}
        options = {str(k): str(v) for k, v in (spec.get("driver_opts") or {}).items()}
        files = None
        if options:
            device = options.get("device")
            if device and device != OUTSIDE and "bind" in options.get("o", "").split(","):
                files = subtree(self.plan.files, device)  # a bind device: a copy of it
            self.note(f"sandbox: volume {source} is a job volume (its driver options are not used)")
        return self.storage.volume(key, files=files)

    def bind_mount(self, name: str, volume: dict[str, Any]) -> Mount | None:
        """A bind of a project directory becomes a job volume holding a copy of it (shared by
        every service that binds the same directory, as a real bind would be)."""
        source, target = volume.get("source") or OUTSIDE, volume.get("target")
        if source == OUTSIDE:
            self.note(f"sandbox: bind mount -> {target} of {name} skipped (outside the project)")
            return None
        if source in self.plan.files:
            self.file_binds.setdefault(name, {})[str(target)] = self.plan.files[source]
            return None
        files = subtree(self.plan.files, source)
        job_volume = self.storage.volume(f"bind:{source}", files=files)
        return Mount(target, job_volume, type="volume", read_only=bool(volume.get("read_only")))

    def secret_mounts(self, name: str, service: dict[str, Any]) -> list[Mount]:
        """Secrets as read-only files (under /run/secrets unless a target says otherwise), in
        a job volume per directory, with the long syntax's mode/uid/gid (0444 by default, as
        Compose's bind is)."""
        directories: dict[str, dict[str, ProjectFile]] = {}
        for secret in service.get("secrets") or []:
            if isinstance(secret, str):
                secret = {"source": secret}
            source = secret.get("source")
            content = self.plan.secrets.get(source)
            if content is None:
                self.note(f"sandbox: secret {source} of {name} has no file; not mounted")
                continue
            target = str(secret.get("target") or source)
            if not target.startswith("/"):
                target = f"{SECRETS_DIR}/{target}"
            directory, filename = posixpath.split(posixpath.normpath(target))
            mode, uid, gid = secret.get("mode"), secret.get("uid"), secret.get("gid")
            directories.setdefault(directory, {})[filename] = ProjectFile(
                content,
                int(mode, 8) if isinstance(mode, str) else int(mode) if mode is not None else 0o444,
                int(uid) if uid is not None else None,
                int(gid) if gid is not None else None,
            )
        return [
            Mount(directory, self.storage.volume(f"secrets:{name}:{directory}", files=files),
                  type="volume", read_only=True)
            for directory, files in sorted(directories.items())
        ]  # fmt: skip
