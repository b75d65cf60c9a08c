"""Classic builds under the sandbox limits, cancellable, with a learner-readable failure.

On Debian docker.io 20.10 (classic builder), closing the HTTP connection is the only way to
cancel a build. `build_image` therefore streams the build in a thread, enforces the
wall-clock limit itself (shutting the socket down, which makes the daemon cancel the build
and kill its RUN container), and runs it under the job's `BuildCgroup` and `DiskGuard`.
"""

from __future__ import annotations

import contextlib
import io
import queue
import re
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import docker
import docker.errors

from ..types import ProgressCallback, ProjectFile, SandboxLimits, Stage, no_progress
from .buildkit import buildkit_build, needs_buildkit
from .client import Deadline, EngineAPIClient, TailBuffer, address_of, tls_config
from .errors import Origin, engine_error, is_learner_error, one_line
from .files import context_files, tar_bytes
from .limits import BuildCgroup, DiskGuard, _BuildWrites
from .outcome import BuildOutcome


class _BuildAPI(EngineAPIClient):
    """An APIClient for exactly one build: remembers the streaming response (so the build can
    be cancelled by shutting its socket down) and can pass `cgroupparent`, which docker-py's
    `build()` does not expose."""

    def __init__(
        self, *args: Any, cgroup_parent: str | None = None, nano_cpus: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.extra_params: dict[str, Any] = {}
        if cgroup_parent:
            self.extra_params["cgroupparent"] = cgroup_parent
        if nano_cpus:  # a CPU quota rather than pinning every build to the same cpuset
            self.extra_params.update(
                cpuperiod=100_000, cpuquota=nano_cpus * 100_000 // 1_000_000_000
            )
        self.response: Any = None

    def _post(self, url: str, **kwargs: Any) -> Any:  # type: ignore[override]
        if url.endswith("/build"):
            kwargs.setdefault("params", {}).update(self.extra_params)
        response = super()._post(url, **kwargs)
        if url.endswith("/build"):
            self.response = response
        return response

    def abort(self) -> None:
        """Shut the build's connection down: the daemon cancels the build and kills its step."""
        response = self.response
        if response is None:
            return
        with contextlib.suppress(Exception):
            raw = self._get_raw_response_socket(response)
            getattr(raw, "_sock", raw).shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            response.close()


def _build_api(
    client: docker.DockerClient, timeout: int, cgroup_parent: str | None, nano_cpus: int
) -> _BuildAPI:
    address = address_of(client)  # the grading engine `client` talks to, never DOCKER_HOST's
    return _BuildAPI(
        base_url=address.url,
        version=client.api.api_version,
        timeout=timeout,
        cgroup_parent=cgroup_parent,
        nano_cpus=nano_cpus,
        tls=tls_config(address),
    )


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _describe_build_failure(message: str, log_tail: TailBuffer, limits: SandboxLimits) -> str:
    """A clear one-line reason for a failed classic build, with the last lines of output."""
    step = ""
    lines = log_tail.last_lines(400)
    for line in reversed(lines):
        if line.startswith("Step "):
            step = line.split(" : ", 1)[-1].strip()
            break
    lowered = message.lower()
    if step.upper().startswith("FROM") and any(
        s in lowered
        for s in (
            "pull access denied",
            "dial tcp",
            "no such host",
            "lookup ",
            "manifest unknown",
            "not found",
        )
    ):
        return f"base image not available in the sandbox ({step}): nothing can be pulled here, use a local image"
    code = re.search(r"returned a non-zero code: (\d+)", message)
    if code:
        message = f"exit code {code.group(1)}"
        if code.group(1) == "137":
            message += f" (killed: out of memory? builds are limited to {limits.memory_bytes // 2**20} MiB)"
    shown = one_line(step, 120)
    reason = f"build failed at `{shown}`: {message}" if step else f"build failed: {message}"
    output = [
        line for line in lines if not line.startswith(("Step ", " ---> ", "Removing intermediate"))
    ]
    if code and output:
        reason += "; last output: " + " | ".join(one_line(line, 160) for line in output[-3:])
    return one_line(reason, 600)


def build_image(
    client: docker.DockerClient,
    *,
    context: Mapping[str, ProjectFile],
    dockerfile: str,
    tag: str,
    labels: dict[str, str],
    limits: SandboxLimits,
    progress: ProgressCallback = no_progress,
    buildargs: dict[str, str] | None = None,
    target: str | None = None,
    cgroup_name: str | None = None,
    what: str = "image",
) -> BuildOutcome:
    """Build `context` (the build context's files, as bytes) with the classic builder under
    the sandbox limits. The context reaches the engine as a tar stream: no host path.

    Learner faults (the Dockerfile fails, the build overruns `limits.build_timeout_s`) come
    back as `BuildOutcome(ok=False, error=...)`; engine failures raise `InfrastructureError`.
    """
    entry = context.get(dockerfile)
    if entry is not None and needs_buildkit(entry.content.decode("utf-8", "replace")):
        return buildkit_build(
            client, context=context, dockerfile=dockerfile, tag=tag, labels=labels,
            limits=limits, progress=progress, buildargs=buildargs, target=target, what=what,
        )  # fmt: skip
    started = time.monotonic()
    deadline = Deadline(limits.build_timeout_s)
    buffer = TailBuffer(limits.log_bytes)
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    with BuildCgroup(
        client,
        cgroup_name or tag.replace("/", "-").replace(":", "-"),
        pids=limits.pids,
        memory_bytes=limits.memory_bytes,
    ) as cgroup:
        api = _build_api(client, limits.build_timeout_s + 30, cgroup.parent, limits.nano_cpus)
        kwargs: dict[str, Any] = dict(
            fileobj=io.BytesIO(tar_bytes(context_files(context, "", dockerfile))),
            custom_context=True,
            dockerfile=dockerfile,
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            labels=labels,
            timeout=limits.build_timeout_s + 30,
            network_mode=None if limits.build_network else "none",
            container_limits={
                "memory": limits.memory_bytes,
                "memswap": limits.memory_bytes,  # no swap: an OOM is an OOM
                "cpushares": 512,  # + the CPU quota `_BuildAPI` adds
            },
            buildargs=buildargs or None,
            target=target or None,
            use_config_proxy=False,
        )

        def pump() -> None:
            try:
                for item in api.build(**kwargs):
                    events.put(("item", item))
                events.put(("done", None))
            except BaseException as error:  # noqa: BLE001 - handed to the main thread
                events.put(("raised", error))

        def stop() -> None:
            cgroup.kill_all()  # the step container first: it is the one writing
            api.abort()

        writes = _BuildWrites(client, cgroup)
        guard = DiskGuard(writes.measure, limit=limits.disk_bytes, stop=stop, name=f"disk-{tag}")
        thread = threading.Thread(target=pump, name=f"build-{tag}", daemon=True)
        thread.start()
        image_id: str | None = None
        error: str | None = None
        timed_out = False
        guard.start()
        try:
            while True:
                if guard.exceeded:
                    break
                try:
                    kind, payload = events.get(timeout=max(0.05, min(1.0, deadline.remaining())))
                except queue.Empty:
                    if deadline.expired:
                        timed_out = True
                        break
                    continue
                if kind == "done":
                    break
                if kind == "raised":
                    if guard.exceeded:
                        break
                    if deadline.expired:
                        timed_out = True
                        break
                    if isinstance(
                        payload, docker.errors.BuildError | docker.errors.APIError
                    ) and is_learner_error(payload, Origin.LEARNER_BUILD):
                        error = _describe_build_failure(one_line(payload), buffer, limits)
                        break
                    raise engine_error(payload, f"building {what}") from payload
                text = payload.get("stream") or ""
                if payload.get("status"):
                    text += payload["status"] + "\n"
                text = _ANSI.sub("", text)
                if text:
                    buffer.add(text)
                    writes.feed(text)
                    progress(Stage.BUILDING, f"building {what}", text)
                if payload.get("aux", {}).get("ID"):
                    image_id = payload["aux"]["ID"]
                if payload.get("error"):
                    error = _describe_build_failure(one_line(payload["error"]), buffer, limits)
                    buffer.add(f"ERROR: {payload['error']}\n")
                    break
        finally:
            guard.close()
            if timed_out or thread.is_alive():
                api.abort()
                cgroup.kill_all()
                thread.join(timeout=10)
            api.close()
        if guard.exceeded:
            timed_out, image_id = False, None
            error = guard.message(f"the build of {what}")
            buffer.add(f"\nERROR: {error}\n")
        elif timed_out:
            error = (
                f"build timed out after {limits.build_timeout_s}s (the sandbox limit); last output: "
                + " | ".join(buffer.last_lines(3))
            )
            buffer.add(f"\nERROR: build timed out after {limits.build_timeout_s}s\n")
        if error is None and image_id is None:
            image_id = _image_id_from_log(buffer)
        if error is None and image_id is None:
            error = "build produced no image: " + " | ".join(buffer.last_lines(3))
    return BuildOutcome(
        ok=error is None,
        image_id=image_id if error is None else None,
        error=one_line(error, 600) if error else None,
        log=buffer.text(),
        duration_ms=int((time.monotonic() - started) * 1000),
        timed_out=timed_out,
        pids_limited=cgroup.parent is not None,
    )


def _image_id_from_log(buffer: TailBuffer) -> str | None:
    match = re.findall(r"Successfully built ([0-9a-f]{12,64})", "".join(buffer.parts))
    return match[-1] if match else None
