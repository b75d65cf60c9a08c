"""Runtime abuse on a real engine (the suite's private one): each submission is the correct
answer plus one abuse; each is contained by a sandbox limit and ends as a clear `failed`
result, the grading process carries on, the engine still answers, and nothing is left."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from exercises.grading.capabilities import CAPABILITIES, GRANTABLE
from exercises.grading.grader import grade_directory
from exercises.grading.sandbox.client import LABEL_JOB
from exercises.grading.types import GradeResult, SandboxLimits, Status

from .conftest import host_addresses
from .figures import FIGURES
from .private_engine import NAME
from .support import (
    DC,
    DF,
    REFERENCE,
    app_lines,
    assert_well_formed,
    everything_shown,
    job_labelled,
    replaced,
    unique,
    write_submission,
)

pytestmark = pytest.mark.figure("hostile")
LIMITS = SandboxLimits(build_timeout_s=30, run_timeout_s=60)
CGROUP_PIDS = Path("/sys/fs/cgroup/pids")
APP_CMD = 'CMD ["node", "dist/server.js"]'
AFTER_NPM_CI = "RUN npm ci\n"
NOTHING = {"containers": [], "networks": [], "volumes": [], "images": []}
# What the engine's disk may grow by when a submission writes without end: the 2 GiB limit,
# plus what a writer puts in the page cache between two measurements of the disk guard.
DISK_BOUND = LIMITS.disk_bytes + 1536 * 2**20


class Peak:
    """Samples `measure()` in the background while a grading runs; keeps the maximum."""

    def __init__(self, measure: Callable[[], float], interval: float = 0.2) -> None:
        self.measure, self.interval, self.value = measure, interval, 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.value = max(self.value, float(self.measure()))
                self.samples += 1
            except Exception:  # noqa: BLE001 - a sample that fails is skipped
                pass

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def build_pids() -> int:
    """The largest pids.current of the engine's build cgroups right now."""
    return max((int((d / "pids.current").read_text()) for d in
                CGROUP_PIDS.glob("drydock-build-*")), default=0)  # fmt: skip


def container_pids(client, maxima: set[int]) -> Callable[[], int]:
    """The largest pids.current of the job's containers (their pids.max go to `maxima`)."""

    def measure() -> int:
        ids = [c["Id"] for c in client.api.containers(filters={"label": LABEL_JOB})]
        found = 0
        for directory in (CGROUP_PIDS / NAME / i for i in ids):
            if directory.is_dir():
                maxima.add(int((directory / "pids.max").read_text()))
                found = max(found, int((directory / "pids.current").read_text()))
        return found

    return measure


@pytest.fixture
def grade(private_engine, engine_client, tmp_path):
    """Grade files in full mode on the private engine; afterwards the engine answers and
    holds nothing of any job."""

    def run(files: dict[str, str], limits: SandboxLimits = LIMITS) -> tuple[GradeResult, float]:
        started = time.monotonic()
        result = grade_directory(write_submission(tmp_path / unique("s-"), files), limits=limits)
        seconds = time.monotonic() - started
        assert_well_formed(result)
        return result, seconds

    yield run
    assert engine_client.ping()
    assert job_labelled(engine_client, settle_s=60) == NOTHING


def reason(result: GradeResult) -> str:
    """The first failed check's summary: what the learner reads first."""
    return next(c.summary for c in result.checks if not c.passed)


def evidence(result: GradeResult) -> str:
    return "\n".join(e for c in result.checks for e in c.evidence)


def with_dockerfile(old: str, new: str) -> dict[str, str]:
    return {**REFERENCE, DF: replaced(REFERENCE[DF], old, new)}


def test_fork_bomb_in_a_run_step(grade):
    # in the foreground: a step whose bomb went to the background would simply end
    files = with_dockerfile(AFTER_NPM_CI, AFTER_NPM_CI + "RUN bomb() { bomb | bomb; }; bomb\n")

    with Peak(build_pids) as pids:
        result, seconds = grade(files)

    assert result.status == Status.FAILED
    assert "Cannot fork" in reason(result) or "build timed out" in reason(result), reason(result)
    assert pids.value <= LIMITS.pids, pids.value
    assert seconds < LIMITS.build_timeout_s + 30
    FIGURES.line(f"hostile fork-bomb-run: failed in {seconds:.0f}s, the build cgroup peaked at "
                 f"{pids.value:.0f} pids (limit {LIMITS.pids}); {reason(result)[:90]}")  # fmt: skip


def test_fork_bomb_in_the_cmd(grade, engine_client):
    files = with_dockerfile(
        APP_CMD, 'CMD ["sh", "-c", "bomb() { bomb | bomb; }; while :; do bomb; done"]'
    )

    maxima: set[int] = set()
    with Peak(container_pids(engine_client, maxima)) as pids:
        result, seconds = grade(files)

    assert result.status == Status.FAILED
    assert "the healthcheck of app failed" in evidence(result)
    assert LIMITS.pids in maxima, maxima
    # forks stop at pids.max; the grader's own `docker exec` probes join the cgroup beyond it
    assert 0 < pids.value <= LIMITS.pids + 16, pids.value
    FIGURES.line(f"hostile fork-bomb-cmd: failed in {seconds:.0f}s, the app container peaked at "
                 f"{pids.value:.0f} pids (limit {LIMITS.pids}); {reason(result)[:90]}")  # fmt: skip


def test_run_step_that_fills_the_disk(grade, private_engine):
    files = with_dockerfile(AFTER_NPM_CI, AFTER_NPM_CI + "RUN dd if=/dev/zero of=/fill bs=1M\n")
    before = private_engine.disk()[0]

    with Peak(lambda: private_engine.disk()[0] - before) as written:
        result, seconds = grade(files, SandboxLimits(build_timeout_s=120, run_timeout_s=60))

    assert result.status == Status.FAILED
    assert "above the sandbox limit of 2048 MiB, and was stopped" in reason(result), reason(result)
    assert written.value < DISK_BOUND, written.value
    FIGURES.line(
        f"hostile disk-fill-run: failed in {seconds:.0f}s, the engine's disk grew by at "
        f"most {written.value / 2**20:.0f} MiB (limit 2048 MiB); {reason(result)[:110]}"
    )


def test_container_that_fills_the_disk(grade, private_engine):
    files = with_dockerfile(
        APP_CMD, 'CMD ["sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M; sleep 3600"]'
    )
    before = private_engine.disk()[0]

    with Peak(lambda: private_engine.disk()[0] - before) as written:
        result, seconds = grade(files)

    assert result.status == Status.FAILED
    assert "the stack wrote" in evidence(result) and "and was stopped" in evidence(result)
    assert written.value < DISK_BOUND, written.value
    stopped = next(e for e in evidence(result).splitlines() if "the stack wrote" in e)
    FIGURES.line(f"hostile disk-fill-cmd: failed in {seconds:.0f}s, the engine's disk grew by at "
                 f"most {written.value / 2**20:.0f} MiB; {stopped.removeprefix('sandbox: ')}")  # fmt: skip


def test_run_step_that_sleeps_past_the_build_timeout(grade):
    files = with_dockerfile(AFTER_NPM_CI, AFTER_NPM_CI + "RUN sleep 3600\n")

    result, seconds = grade(files)

    assert result.status == Status.FAILED
    assert "build timed out after 30s (the sandbox limit)" in reason(result), reason(result)
    assert LIMITS.build_timeout_s <= seconds < LIMITS.build_timeout_s + 30
    FIGURES.line(
        f"hostile sleep-past-build-timeout: failed in {seconds:.0f}s; {reason(result)[:80]}"
    )


def test_container_that_prints_gigabytes_of_log(grade, engine_client):
    flood = (
        'CMD ["sh", "-c", "head -c 2000000000 /dev/zero | tr \'\\\\0\' x | fold -w 1000; '
        'echo FLOOD-DONE; sleep 3600"]'
    )
    files = with_dockerfile(APP_CMD, flood)

    def log_file_size() -> int:
        sizes = [Path(engine_client.api.inspect_container(c["Id"])["LogPath"]).stat().st_size
                 for c in engine_client.api.containers(filters={"label": LABEL_JOB})]  # fmt: skip
        return max(sizes, default=0)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Peak(log_file_size, interval=0.5) as log_size:
        result, seconds = grade(files, SandboxLimits(build_timeout_s=60, run_timeout_s=90))
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024

    assert result.status == Status.FAILED
    assert len(result.log) <= LIMITS.log_bytes + 4096
    assert log_size.value <= 1.5 * 2**20, log_size.value  # json-file rotation: 1 MiB, 1 file
    assert rss_growth_mib < 100, rss_growth_mib
    printed = "2 GB" if "FLOOD-DONE" in result.log else "at least a part of 2 GB"
    FIGURES.line(
        f"hostile log-flood: failed in {seconds:.0f}s after printing {printed}; the "
        f"container's log file peaked at {log_size.value / 2**20:.1f} MiB, the result log "
        f"is {len(result.log) // 1024} KiB, the grader grew by {rss_growth_mib:.0f} MiB"
    )


def test_healthcheck_that_hangs(grade):
    hanging = replaced(
        REFERENCE[DC],
        'test: ["CMD", "wget", "--no-verbose", "--tries=1", "--spider", "http://localhost:3000/health"]',
        'test: ["CMD", "sleep", "3600"]',
    )
    files = {
        **REFERENCE,
        DC: hanging.replace("timeout: 5s\n      retries: 3", "timeout: 3s\n      retries: 2", 1),
    }

    result, seconds = grade(files)

    assert result.status == Status.FAILED
    assert "the healthcheck of app failed" in evidence(result)
    assert "timed out after 3s" in evidence(result)
    FIGURES.line(f"hostile healthcheck-hangs: failed in {seconds:.0f}s; {reason(result)[:110]}")


def test_build_that_reaches_for_the_network(grade):
    files = with_dockerfile(
        AFTER_NPM_CI,
        AFTER_NPM_CI + "RUN node -e "
        "\"require('https').get('https://registry.npmjs.org/', r => process.exit(0))"
        ".on('error', e => { console.log('offline:', e.code); process.exit(7) })\"\n",
    )

    result, seconds = grade(files)

    assert result.status == Status.FAILED
    assert "exit code 7" in reason(result) and "offline: EAI_AGAIN" in result.log, reason(result)
    FIGURES.line(f"hostile build-network: failed in {seconds:.0f}s (the build has no network); "
                 f"{reason(result)[:100]}")  # fmt: skip


@pytest.mark.parametrize("how", ["add-url", "from-registry", "copy-from-registry"])
def test_build_cannot_make_the_engine_fetch_from_the_host(grade, loopback_service, how):
    """`--network none` confines RUN steps only: the daemon itself pulls images and downloads
    ADD URLs, from the host's loopback too. None of that may happen."""
    port = loopback_service["port"]
    edit = {
        "add-url": (AFTER_NPM_CI, AFTER_NPM_CI + f"ADD http://127.0.0.1:{port}/admin /x\nRUN cat /x\n"),
        "from-registry": ("FROM node:18-alpine AS builder", f"FROM 127.0.0.1:{port}/evil:1 AS builder"),
        "copy-from-registry": (AFTER_NPM_CI, AFTER_NPM_CI + f"COPY --from=127.0.0.1:{port}/evil:1 /x /x\n"),
    }[how]  # fmt: skip

    result, seconds = grade(with_dockerfile(*edit))

    assert loopback_service["requests"] == [], "the engine fetched from a host service"
    assert loopback_service["secret"] not in everything_shown(result)
    if how == "add-url":  # a checklist failure (security practices), refused before the build
        assert result.status == Status.FAILED
        assert "ADD cannot fetch" in reason(result), reason(result)
        why = reason(result)
    else:  # a registry host is refused by the policy before anything runs
        assert result.status == Status.REJECTED
        why = "; ".join(v.detail for v in result.policy)
        assert "127.0.0.1" in why, why
    FIGURES.line(f"hostile engine-fetch-{how}: stopped before the build, the host service got no "
                 f"request; {why[:100]}")  # fmt: skip


def test_containers_cannot_reach_the_hosts_services(grade, host_listener):
    """A job network is internal, but the host used to answer on its gateway address: any
    host service on 0.0.0.0 was one connect() away from a submission."""
    port = host_listener["port"]
    targets = ", ".join(f"'{a}'" for a in host_addresses())
    probe = (
        "const net = require('net'); const fs = require('fs');"
        "const gw = fs.readFileSync('/proc/net/route', 'utf8').split('\\\\n').slice(1)"
        ".map(l => l.trim().split(/\\\\s+/)).filter(f => f[1] === '00000000')"
        ".map(f => f[2].match(/../g).reverse().map(h => parseInt(h, 16)).join('.'));"
        f"const all = [...gw, {targets}];"
        "let left = all.length; const done = () => { if (--left === 0) require('./dist/server.js') };"
        "console.log('probing', all.join(' '));"
        f"for (const host of all) {{ const s = net.connect({{host, port: {port}, timeout: 2000}});"
        "s.on('connect', () => { console.log('REACHED', host); s.destroy(); done() });"
        "s.on('error', e => { console.log('blocked', host, e.code); done() });"
        "s.on('timeout', () => { console.log('blocked', host, 'timeout'); s.destroy(); done() }) }"
    )
    files = with_dockerfile(APP_CMD, f'CMD ["node", "-e", "{probe}"]')

    result, seconds = grade(files)

    assert host_listener["seen"] == [], f"a container reached the host: {host_listener['seen']}"
    app_output = result.log.rsplit("==> app (last lines) <==", 1)[-1]
    assert "probing" in app_output and "REACHED" not in app_output, app_output
    assert result.status == Status.PASSED, reason(result)  # the app itself still runs
    FIGURES.line(
        f"hostile reach-host-services: the app could not connect to the host's gateway "
        f"or addresses ({len(host_addresses()) + 1} tried); graded {result.status.value}"
    )


# Bit numbers of the capabilities in /proc/<pid>/status (linux/capability.h).
CAPABILITY_BITS = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
    "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
    "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
    "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
    "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35,
    "BLOCK_SUSPEND": 36, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}  # fmt: skip


def test_containers_get_no_capability_beyond_dockers_defaults(grade):
    """Whatever cap_add asks for (ALL, SYS_ADMIN, DAC_READ_SEARCH...), the app's bounding set
    holds only Docker's defaults minus NET_RAW: the stack is graded, the capability not given."""
    asked = sorted(CAPABILITIES - GRANTABLE)
    probe = (
        "const s = require('fs').readFileSync('/proc/self/status', 'utf8');"
        "console.log('CAPBND', s.match(/CapBnd:\\\\s*(\\\\w+)/)[1]); require('./dist/server.js')"
    )
    files = {
        **with_dockerfile(APP_CMD, f'CMD ["node", "-e", "{probe}"]'),
        DC: app_lines(REFERENCE[DC], f"cap_add: [{', '.join(asked)}]"),
    }

    result, _ = grade(files)

    app_output = result.log.rsplit("==> app (last lines) <==", 1)[-1]
    assert "CAPBND" in app_output, app_output
    bounding = int(app_output.split("CAPBND", 1)[1].split()[0], 16)
    allowed = sum(1 << CAPABILITY_BITS[c] for c in GRANTABLE)
    extra = [c for c, bit in CAPABILITY_BITS.items() if bounding >> bit & 1 and c not in GRANTABLE]
    assert bounding & ~allowed == 0, f"the app was granted {extra}"
    assert result.status == Status.FAILED and "beyond what Docker grants" in evidence(result)
    FIGURES.line(
        f"hostile cap-add-beyond-defaults: {len(asked)} capabilities asked for, none granted "
        f"(CapBnd {bounding:#x}); graded {result.status.value}"
    )


@pytest.mark.worker
def test_a_real_worker_grades_on_after_runtime_abuse(
    private_engine, start_celery, transactional_db, django_user_model, settings, engine_client
):
    """The same abuse through a real Celery worker (prefork, concurrency 2, production limits):
    each ends `failed` with a reason, the worker process lives on and grades the next one."""
    from exercises import services
    from exercises.models import Submission
    from tests.worker.fixtures import poll_statuses

    settings.DRYDOCK_SUBMISSION_RATE = "100/600"
    exercise = services.exercise_load(slug="docker-production")
    abuse = {
        "fork-bomb-cmd": with_dockerfile(
            APP_CMD, 'CMD ["sh", "-c", "bomb() { bomb | bomb; }; while :; do bomb; done"]'
        ),
        "disk-fill-cmd": with_dockerfile(
            APP_CMD, 'CMD ["sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M; sleep 3600"]'
        ),
        "log-flood": with_dockerfile(APP_CMD, 'CMD ["sh", "-c", "yes drydock-log-flood"]'),
    }
    worker = start_celery(concurrency=2)
    pids = {worker.process.pid, *map(int, Path(f"/proc/{worker.process.pid}/task/"
                                                f"{worker.process.pid}/children").read_text().split())}  # fmt: skip

    def grade(name: str, files: dict[str, str]) -> Submission:
        learner = django_user_model.objects.create_user(f"abuse-{name}", password="pw-abuse-123")
        submission = services.submission_create(learner=learner, exercise=exercise, files=files)
        return submission

    made = {name: grade(name, files) for name, files in abuse.items()}
    for submission in made.values():
        poll_statuses(
            submission.pk, until=lambda row: row.status in Submission.FINISHED, timeout=600
        )
    rows = {name: Submission.objects.get(pk=s.pk) for name, s in made.items()}
    assert {n: r.status for n, r in rows.items()} == dict.fromkeys(abuse, "failed"), {
        n: (r.status, r.stage_message, r.internal_error) for n, r in rows.items()
    }
    assert all(r.attempt == 1 and not r.is_infrastructure_error for r in rows.values())
    after = poll_statuses(grade("reference", REFERENCE).pk,
                          until=lambda row: row.status in Submission.FINISHED, timeout=300)  # fmt: skip
    assert after[-1] == "passed", after
    assert worker.process.poll() is None and "WorkerLostError" not in worker.tail(400)
    alive = {pid for pid in pids if Path(f"/proc/{pid}").exists()}
    assert job_labelled(engine_client, settle_s=60) == NOTHING
    FIGURES.line(f"hostile through-a-worker: {', '.join(abuse)} each graded failed by a real "
                 f"worker (production limits); the worker's processes all alive "
                 f"({len(alive)}/{len(pids)}), the next reference answer passed")  # fmt: skip
