"""A compose service translated to `containers.create` arguments under the sandbox ceilings:
limits, security options, mounts, secrets, tmpfs and ulimits (a mixin of the session)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from docker.types import EndpointConfig, Mount, Ulimit

from ..types import SandboxLimits
from .health import HealthSpec, parse_bytes

SANDBOX_DIR = ".drydock-sandbox"  # job-private files (secret copies) inside the workdir


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


class _ContainerSpecs:
    """How the session turns one service into container arguments (see `_Session`)."""

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
