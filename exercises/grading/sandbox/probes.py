"""Probes: exec with a deadline, the services' health checks, the HTTP probe of the app and
the collection of what the containers did (the probing half of the session)."""

from __future__ import annotations

import contextlib
import re
import select
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import docker
import docker.errors

from ..types import GradingError, InfrastructureError, Stage
from .client import Deadline, engine_call, local_image
from .errors import ENGINE_ERRORS, engine_error, one_line
from .health import HEALTH_RETRY_S, HealthSpec

if TYPE_CHECKING:
    from .stack import _Running

HTTP_PROBE_BUDGET_S = 10.0
DEFAULT_APP_PORT = 3000
LOG_TAIL_BYTES = 4096  # per service, in observations
# Local images with a busybox/alpine `wget`, tried in order for the in-network HTTP probe.
PROBE_IMAGES = (
    "busybox:latest",
    "alpine:latest",
    "node:18-alpine",
    "node:20-alpine",
    "postgres:14-alpine",
)


@dataclass
class ExecResult:
    exit_code: int | None  # None when it timed out or could not run
    output: str = ""
    timed_out: bool = False
    error: str | None = None  # the exec could not be started (container not running...)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def exec_in(
    client: docker.DockerClient,
    container_id: str,
    argv: list[str],
    *,
    timeout: float,
    user: str = "",
    max_output: int = 16 * 1024,
) -> ExecResult:
    """Run `argv` in a running container, giving up after `timeout` seconds.

    docker-py's exec reader blocks without a timeout (it polls forever), so this reads the
    multiplexed stream itself with `poll()` and a deadline. A timed-out process is left to die
    with its container (pids-limited), as Docker's own health checker would leave it.
    """
    deadline = Deadline(timeout)
    try:
        exec_id = client.api.exec_create(container_id, argv, stdout=True, stderr=True, user=user)[
            "Id"
        ]
        sock = client.api.exec_start(exec_id, socket=True)
    except docker.errors.APIError as error:
        if (
            error.status_code in (404, 409)
            or error.status_code == 500
            and "not running" in str(error)
        ):
            return ExecResult(exit_code=None, error=one_line(error))
        raise engine_error(error, f"exec in {container_id[:12]}") from error
    except ENGINE_ERRORS as error:
        raise engine_error(error, f"exec in {container_id[:12]}") from error
    raw = getattr(sock, "_sock", sock)
    data = bytearray()
    timed_out = False
    try:
        poller = select.poll()
        poller.register(raw.fileno(), select.POLLIN | select.POLLPRI | select.POLLHUP)
        while True:
            if not (hasattr(raw, "pending") and raw.pending()):
                left = deadline.remaining()
                if left <= 0:
                    timed_out = True
                    break
                if not poller.poll(int(left * 1000) + 1):
                    continue
            chunk = raw.recv(65536)
            if not chunk:
                break
            data += chunk
            if len(data) > max_output + 65536:
                del data[max_output:]
    except OSError as error:
        return ExecResult(
            exit_code=None, output=_demux(bytes(data), max_output), error=one_line(error)
        )
    finally:
        with contextlib.suppress(OSError):
            raw.close()
        with contextlib.suppress(Exception):
            sock.close()
    output = _demux(bytes(data), max_output)
    if timed_out:
        return ExecResult(exit_code=None, output=output, timed_out=True)
    with engine_call("inspecting an exec"):
        for _ in range(20):  # the exit code lands a moment after the stream closes
            info = client.api.exec_inspect(exec_id)
            if not info.get("Running"):
                return ExecResult(exit_code=info.get("ExitCode"), output=output)
            time.sleep(0.02)
    return ExecResult(exit_code=None, output=output, timed_out=True)


def _demux(data: bytes, limit: int) -> str:
    """Docker's multiplexed stream (8-byte frame headers) to text; raw text if not framed."""
    out = bytearray()
    view = memoryview(data)
    position = 0
    while position + 8 <= len(view):
        stream, size = struct.unpack(">BxxxL", view[position : position + 8])
        if stream not in (0, 1, 2):
            return data[:limit].decode("utf-8", "replace")
        out += view[position + 8 : position + 8 + size]
        position += 8 + size
    return bytes(out[:limit]).decode("utf-8", "replace")


DB_DOWN_PROBES, DB_DOWN_INTERVAL_S = 3, 0.5  # all must pass for a health check that cannot fail


class _Probes:
    """Health probing, the HTTP probe and result collection of the session (see `_Session`)."""

    # health ---------------------------------------------------------------------------
    def probe_health(self, running: _Running, health: HealthSpec) -> tuple[bool, str]:
        """Run the service's own health test via exec until it passes or its budget is spent."""
        budget = Deadline(min(health.budget_s, self.deadline.remaining()))
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
                return True, one_line(result.output or "ok", 500)
            if result.timed_out:
                last = f"timed out after {health.timeout_s:g}s"
            elif result.error:
                last = result.error
            else:
                last = f"exit code {result.exit_code}: {one_line(result.output, 300)}".rstrip(": ")
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
        with engine_call("inspecting a container"):
            return self.client.api.inspect_container(container_id).get("State") or {}

    def probe_health_db_down(self) -> None:
        """Run the app's own health check with its database stopped: a health check that
        still passes cannot tell an orchestrator anything (`curl` without `-f`, `|| true`…),
        whatever its spelling. Last step of a run: the database is killed, not restarted."""
        plan = self.plan
        app, db = self.running.get(plan.app_service), self.running.get(plan.db_service or "")
        health = self.health_specs.get(plan.app_service)
        if app is None or db is None or health is None or not app.observation.health_ok:
            return
        self.progress(Stage.PROBING, f"checking that the health check fails without {db.name}", "")
        began = time.monotonic()
        with engine_call(f"stopping {db.name}"):
            self.client.api.kill(db.container_id)
            self.client.api.wait(db.container_id, timeout=10)
        self.stand_in_for_stopped(db.name)
        passed = 0
        for attempt in range(DB_DOWN_PROBES):
            if attempt:
                time.sleep(DB_DOWN_INTERVAL_S)
            result = self.job.exec(
                app.container_id, health.argv, timeout=max(1.0, min(health.timeout_s, 5.0))
            )
            if not result.ok:
                break
            passed += 1
        app.observation.health_ok_db_down = passed == DB_DOWN_PROBES
        self.obs.phase_ms["health_db_down"] = int((time.monotonic() - began) * 1000)

    def stand_in_for_stopped(self, name: str) -> None:
        """Its names answer again, from the helper (which refuses every connection): the
        engine's DNS leaves a stopped container's name unanswered for seconds, which the app
        would sit out (up to its own timeouts) where a real host fails at once."""
        networks = self.network_aliases(name, self.plan.services.get(name) or {})
        try:
            self.helper_on(networks)
        except (GradingError, InfrastructureError) as error:  # the probe runs, only slower
            self.note(f"sandbox: nothing stands in for the stopped {name} ({error})")

    def helper_on(self, networks: list[tuple[str, list[str]]]) -> str | None:
        """The job's helper container, on exactly these networks with these names: started
        on first use (unless the volume holder already serves), else reconnected; None when
        there is no network or no image to run it from."""
        if not networks:
            return None
        if self.helper is None:
            image = next((ref for ref in PROBE_IMAGES if local_image(self.client, ref)), None)
            if image is None:
                return None
            self.helper = (self.job.start_helper(image=image, networks=networks), networks)
        elif self.helper[1] != networks:  # other networks, or other names on the same one
            now = [network for network, _ in self.helper[1]]
            self.job.rename_helper(self.helper[0], now=now, then=networks)
            self.helper = (self.helper[0], networks)
        return self.helper[0]

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
        helper = self.helper_on([(app.networks[0], [])])
        if helper is None:
            self.note("sandbox: no local image with wget for the HTTP probe; /health not checked")
            return
        result = self.job.exec(
            helper,
            ["sh", "-c", script.replace("$N", str(attempts)).replace("$URL", url)],
            timeout=budget + 5,
        )
        self.obs.phase_ms["http_probe"] = int((time.monotonic() - began) * 1000)
        statuses = re.findall(r"HTTP/\d(?:\.\d)? (\d{3})", result.output)
        if statuses:
            self.obs.http_health_status = int(statuses[-1])
            self.obs.http_health_detail = f"GET {url} -> {statuses[-1]}"
        else:
            why = "timed out" if result.timed_out else one_line(result.output or "no answer", 200)
            self.obs.http_health_detail = f"GET {url} failed: {why}"

    # collection ---------------------------------------------------------------------------
    def collect(self) -> None:
        self.progress(Stage.PROBING, "collecting results", "")
        app = self.running.get(self.plan.app_service)
        if app is not None and self.container_state(app.container_id).get("Running"):
            app.observation.uid = self.uid_of(app)
        for running in self.running.values():
            observation = running.observation
            with engine_call(f"inspecting {running.name}"):
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
