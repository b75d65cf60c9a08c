"""Classes of sandbox escape, each tried in many ways on the real grading engine (issue 10).

Every case is the reference answer plus hostile services or build steps. What must hold, for
the whole class and not one spelling of it:
* host files: nothing a container does can make the grader, or the engine, read or write a
  host path (symlinks planted in every directory a container can write; a directory swapped
  for a link to `/`);
* the engine's own fetches: whatever the Dockerfile parser thinks, the daemon cannot reach a
  host service (ADD, FROM, COPY --from, with the parser quirks that once slipped through);
* ceilings per job: volumes, the image's VOLUMEs and tmpfs are capped in bytes and inodes;
  many services together stay within the job's memory;
* nothing shared: a job can name only its own image and the stand-ins;
* the learner's errors are the learner's, and forced hardening cannot be switched off.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

import pytest

from exercises.grading.grader import grade_directory
from exercises.grading.sandbox.build import build_image
from exercises.grading.sandbox.client import LABEL_JOB, LABEL_MANAGED
from exercises.grading.sandbox.job import SandboxJob
from exercises.grading.types import GradeResult, ProjectFile, SandboxLimits, Status

from .conftest import host_addresses
from .figures import FIGURES
from .private_engine import NAME
from .support import (
    DC,
    DF,
    REFERENCE,
    assert_well_formed,
    everything_shown,
    job_labelled,
    replaced,
    top_level,
    unique,
    write_submission,
)

pytestmark = pytest.mark.figure("hostile")
LIMITS = SandboxLimits(build_timeout_s=60, run_timeout_s=60)
NOTHING = {"containers": [], "networks": [], "volumes": [], "images": []}
MEMORY_CGROUP = Path("/sys/fs/cgroup/memory") / NAME


@pytest.fixture
def grade(private_engine, engine_client, tmp_path):
    def run(files: dict[str, str], limits: SandboxLimits = LIMITS) -> GradeResult:
        result = grade_directory(write_submission(tmp_path / unique("s-"), files), limits=limits)
        assert_well_formed(result)
        return result

    yield run
    assert engine_client.ping()
    assert job_labelled(engine_client) == NOTHING


def with_services(extra: str, *, volumes: str = "") -> dict[str, str]:
    """The reference plus services (YAML under `services:`) and top-level volumes."""
    compose = replaced(REFERENCE[DC], "services:\n", "services:\n" + extra.rstrip("\n") + "\n")
    if volumes:
        compose = (
            top_level(compose, volumes)
            if "\nvolumes:" not in compose
            else replaced(compose, "\nvolumes:\n", "\nvolumes:\n" + volumes.rstrip("\n") + "\n")
        )
    return {**REFERENCE, DC: compose}


def service(name: str, script: str, mounts: list[str], depends: str = "") -> str:
    lines = [
        f"  {name}:",
        "    image: busybox:latest",
        f'    command: ["sh", "-c", {script!r}]',
        "    volumes:",
        *(f"      - {m}" for m in mounts),
    ]
    if depends:
        lines += [
            "    depends_on:",
            f"      {depends}:",
            "        condition: service_completed_successfully",
        ]
    return "\n".join(lines).replace("'", '"') + "\n"


@pytest.fixture
def host_files(host_canary):
    """The root-only host canary and a path outside the job a container would like to write."""
    canary = host_canary["etc"]
    if canary is None:
        pytest.skip("cannot write the host canary in /etc")
    os.chmod(canary, 0o600)
    before = canary.read_bytes()
    outside = Path("/tmp") / unique("drydock-escape-")
    yield {"canary": canary, "marker": host_canary["marker"], "outside": outside}
    assert canary.read_bytes() == before, "a host file outside the job was overwritten"
    assert stat.S_IMODE(canary.stat().st_mode) == 0o600
    assert not outside.exists(), f"a container wrote {outside} on the host"
    outside.unlink(missing_ok=True)


# Every directory a container can write that another container (or once, the grader) reads.
WRITABLE = {
    "project-bind": (".:/w", ""),
    "named-volume": ("shared:/w", "  shared: {}\n"),
    "bind-device-volume": (
        "devdata:/w",
        "  devdata:\n    driver: local\n    driver_opts: {type: none, o: bind, device: ./data}\n",
    ),
    "secrets-dir": (".:/w", ""),  # plants links named like the grader's secret files
}


@pytest.mark.parametrize("where", sorted(WRITABLE))
def test_symlinks_planted_for_later_readers_lead_nowhere(grade, host_files, where):
    mount, volumes = WRITABLE[where]
    canary, outside = host_files["canary"], host_files["outside"]
    links = (
        "ln -sf /etc/drydock-canary-host /w/secrets/db_password.txt; "
        "ln -sf /etc/drydock-canary-host /w/secrets/app_secret.txt; "
        if where == "secrets-dir"
        else ""
    )
    plant = (
        f"mkdir -p /w/secrets; {links}ln -sfn / /w/hostroot; ln -sf {canary} /w/canary; "
        f"ln -sf {outside} /w/outside; echo PLANTED"
    )
    read = (
        f"cat /w/canary /w/hostroot{canary} 2>&1; ls /w/hostroot/ 2>&1 | head -3; "
        f"echo owned > /w/outside 2>&1; echo owned > /w/hostroot{outside} 2>&1; echo READ"
    )
    files = with_services(
        service("planter", plant, [mount]) + service("reader", read, [mount], depends="planter"),
        volumes=volumes,
    )
    if where == "bind-device-volume":
        files["data/.keep"] = ""

    result = grade(files)

    assert host_files["marker"] not in everything_shown(result)
    FIGURES.line(f"hostile symlink-{where}: the host canary stayed unread and unwritten; "
                 f"graded {result.status.value}")  # fmt: skip


def test_a_root_container_is_nobody_on_the_host(private_engine, engine_client):
    with SandboxJob(engine_client, unique("j"), LIMITS) as job:
        container = job.create_container(
            service="root", image="busybox:latest", command=["sleep", "30"], user="0:0",
            network_mode="none",
        )  # fmt: skip
        container.start()
        container.reload()
        pid = container.attrs["State"]["Pid"]
        uids = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[:4]
        assert all(int(uid) >= 100000 for uid in uids), uids
        assert container.attrs["HostConfig"].get("Binds") in (None, [])
        assert not [m for m in container.attrs["Mounts"] if m.get("Type") == "bind"]
    FIGURES.line(f"hostile root-in-container: uid 0 inside is uid {uids[0]} on the host")


def test_no_host_path_is_ever_mounted(private_engine, engine_client, tmp_path):
    """Whatever the compose file binds, the engine never gets a host path (watched live)."""
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.2):
            for c in engine_client.api.containers(filters={"label": LABEL_JOB}):
                seen.extend(
                    m.get("Source", "") for m in c.get("Mounts") or [] if m.get("Type") == "bind"
                )

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    files = with_services(
        service("binder", "ls /w /x /y; sleep 2", [".:/w", "./secrets:/x:ro", "/etc:/y"])
    )
    try:
        result = grade_directory(write_submission(tmp_path / "s", files), limits=LIMITS)
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert_well_formed(result)
    assert seen == [], f"host paths were bind-mounted: {sorted(set(seen))}"


# --- the engine's own fetches ---------------------------------------------------------------

FETCHES = {
    "add-url": "FROM busybox:latest\nADD http://127.0.0.1:{port}/add /x\n",
    "add-url-escape-backtick": "# escape=`\nFROM busybox:latest\nADD `\n http://127.0.0.1:{port}/bt /x\n",
    "add-url-form-feed": "FROM busybox:latest\nRUN true \\\x0c\nADD http://127.0.0.1:{port}/ff /x\n",
    "add-url-after-heredoc-token": "FROM busybox:latest\nRUN cat <<EOF\nADD http://127.0.0.1:{port}/hd /x\n",
    "add-url-lowercase": "FROM busybox:latest\nadd http://127.0.0.1:{port}/lc /x\n",
    "add-url-json": 'FROM busybox:latest\nADD ["http://127.0.0.1:{port}/js", "/x"]\n',
    "from-registry": "FROM 127.0.0.1:{port}/evil:1\n",
    "from-localhost-registry": "FROM localhost:{port}/evil\n",
    "copy-from-registry": "FROM busybox:latest\nCOPY --from=127.0.0.1:{port}/evil:1 /x /x\n",
    "add-url-host-address": "FROM busybox:latest\nADD http://{host}:{port}/hostaddr /x\n",
}


@pytest.mark.parametrize("how", sorted(FETCHES))
def test_the_engine_itself_cannot_fetch_from_the_host(
    private_engine, engine_client, loopback_service, how
):
    """Built straight through the sandbox (no Dockerfile parser in the way): the daemon has no
    route to the host, so none of these reach the host service."""
    host = next(iter(host_addresses_or_loopback()))
    dockerfile = FETCHES[how].format(port=loopback_service["port"], host=host)
    with SandboxJob(engine_client, unique("f"), LIMITS) as job:
        outcome = build_image(
            engine_client, context={"Dockerfile": ProjectFile(dockerfile.encode())},
            dockerfile="Dockerfile", tag=f"{job.image_repo}:fetch",
            labels={LABEL_JOB: job.job_id, LABEL_MANAGED: "1"}, limits=LIMITS,
        )  # fmt: skip
        if outcome.image_id:
            job.track_image(outcome.image_id)
    assert loopback_service["requests"] == [], f"the engine fetched {loopback_service['requests']}"
    assert loopback_service["secret"] not in outcome.log
    assert not outcome.ok or how in ("add-url-after-heredoc-token",), outcome.log[-500:]
    FIGURES.line(f"hostile engine-fetch-{how}: the daemon got no route to the host "
                 f"({(outcome.error or 'built')[:80]})")  # fmt: skip


def host_addresses_or_loopback() -> list[str]:
    return host_addresses() or ["127.0.0.1"]


# --- ceilings per job -----------------------------------------------------------------------

WRITES = {
    "anonymous-volume": ("/data", "      - /data\n", ""),
    "named-volume": ("/data", "      - big:/data\n", "  big: {}\n"),
    "tmpfs": ("/data", "", ""),
    "image-volume": ("/data", "", ""),
}


@pytest.mark.parametrize("where", sorted(WRITES))
def test_writes_into_volumes_stop_at_their_ceiling(grade, private_engine, where):
    path, mount, volumes = WRITES[where]
    limits = SandboxLimits(build_timeout_s=60, run_timeout_s=60, volume_bytes=64 * 2**20,
                           volume_inodes=2000)  # fmt: skip
    script = (
        f"i=0; while [ $i -lt 5000 ] && touch {path}/f$i 2>/dev/null; do i=$((i+1)); done; "
        f"dd if=/dev/zero of={path}/fill bs=1M count=512 2>/dev/null; "
        f"echo FILES=$i MIB=$(du -sm {path} | cut -f1)"
    ).replace("$", "$$")  # compose would interpolate a single $
    lines = ["  filler:", "    image: busybox:latest", f'    command: ["sh", "-c", "{script}"]']
    if mount:
        lines += ["    volumes:", mount.rstrip("\n")]
    if where == "tmpfs":
        lines += ["    tmpfs:", f"      - {path}"]
    files = with_services("\n".join(lines) + "\n", volumes=volumes)
    files[DC] = replaced(  # the app waits for the filler to finish, so its output is complete
        files[DC], "    depends_on:\n      db:\n",
        "    depends_on:\n      filler:\n        condition: service_completed_successfully\n      db:\n",
    )  # fmt: skip
    if where == "image-volume":  # the app image declares a VOLUME that the app fills
        files[DF] = REFERENCE[DF].replace('CMD ["node"', f'VOLUME {path}\nCMD ["node"', 1)
        files[DC] = files[DC].replace(
            "  filler:\n    image: busybox:latest",
            "  filler:\n    image: registry.drydock.test/myapp:1.4.2-87",
        )

    before = private_engine.disk()[0]
    result = grade(files, limits)
    grown = private_engine.disk()[0] - before

    assert grown < 256 * 2**20, f"the engine's disk grew by {grown // 2**20} MiB"
    filler = result.log.rsplit("==> filler (last lines) <==", 1)[-1]
    assert "FILES=" in filler, filler[-800:]
    found = re.search(r"FILES=(\d+) MIB=(\d+)", filler)
    assert found, filler[-800:]
    assert int(found[1]) < limits.volume_inodes, filler[-800:]
    assert int(found[2]) <= limits.volume_bytes // 2**20 + 1, filler[-800:]
    FIGURES.line(f"hostile volume-fill-{where}: stopped at the {limits.volume_bytes // 2**20} MiB / "
                 f"{limits.volume_inodes} inode ceiling; the engine's disk grew "
                 f"{grown // 2**20} MiB; graded {result.status.value}")  # fmt: skip


def test_many_services_share_one_memory_ceiling(grade, private_engine):
    if not MEMORY_CGROUP.is_dir():
        pytest.skip("no cgroup v1 memory controller for the engine")
    limits = SandboxLimits(build_timeout_s=60, run_timeout_s=60, job_memory_bytes=1024 * 2**20)
    hogs = "".join(
        f'  hog{i}:\n    image: busybox:latest\n    command: ["sh", "-c", "tail /dev/zero"]\n'
        "    mem_limit: 1g\n"
        for i in range(10)  # with app and db: the most services a compose file may declare
    )
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            usage = int((MEMORY_CGROUP / "memory.usage_in_bytes").read_text())
            peak[0] = max(peak[0], usage)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = grade(with_services(hogs), limits)
    finally:
        stop.set()
        sampler.join(timeout=5)

    # the whole engine's usage (the job, its holder, the app and db) stays near the ceiling
    assert peak[0] < limits.job_memory_bytes + 512 * 2**20, peak[0] // 2**20
    assert "share the sandbox's 1024 MiB of memory" in everything_shown(result)
    FIGURES.line(f"hostile memory-12-services: 10 x 1 GiB asked, the engine peaked at "
                 f"{peak[0] // 2**20} MiB (job ceiling {limits.job_memory_bytes // 2**20} MiB)")  # fmt: skip


# --- nothing shared between jobs ------------------------------------------------------------


@pytest.fixture
def victim_image(private_engine, engine_client):
    """Another learner's image, as a concurrent job leaves it on the engine: job-labelled,
    carrying a secret, and tagged with the name everyone who follows the reference uses."""
    marker = unique("OTHER-LEARNERS-KEY-")
    job = SandboxJob(engine_client, unique("v"), LIMITS)
    dockerfile = f"FROM busybox:latest\nENV API_KEY={marker}\nRUN echo {marker} > /key\n"
    outcome = build_image(
        engine_client, context={"Dockerfile": ProjectFile(dockerfile.encode())},
        dockerfile="Dockerfile", tag=f"{job.image_repo}:app", labels=job.labels(), limits=LIMITS,
    )  # fmt: skip
    assert outcome.ok, outcome.log
    job.track_image(outcome.image_id)
    engine_client.api.tag(outcome.image_id, "registry.drydock.test/myapp", "1.4.2-87")
    yield {"marker": marker, "refs": [f"{job.image_repo}:app", "registry.drydock.test/myapp:1.4.2-87",
                                      outcome.image_id]}  # fmt: skip
    engine_client.api.remove_image("registry.drydock.test/myapp:1.4.2-87", force=True)
    job.teardown()


@pytest.mark.parametrize("how", ["image", "from", "copy-from"])
def test_a_job_cannot_use_another_jobs_image(grade, victim_image, how):
    marker = victim_image["marker"]
    for ref in victim_image["refs"][:2]:
        if how == "image":
            files = with_services(
                f'  spy:\n    image: {ref}\n    command: ["sh", "-c", "env; cat /key"]\n'
            )
            files[DC] = files[DC].replace("registry.drydock.test/myapp:1.4.2-87", "mine/app:1.0")
        elif how == "from":
            files = {
                **REFERENCE,
                DF: REFERENCE[DF].replace(
                    "FROM node:18-alpine AS builder", f"FROM {ref} AS builder", 1
                ),
            }
        else:
            files = {
                **REFERENCE,
                DF: REFERENCE[DF].replace(
                    "RUN npm ci\n", f"RUN npm ci\nCOPY --from={ref} /key /key\n", 1
                ),
            }
        result = grade(files)
        assert marker not in everything_shown(result), (how, ref)
    FIGURES.line(f"hostile other-jobs-image-{how}: another job's image stayed out of reach")


def test_an_engine_refusal_caused_by_the_learner_is_their_error(grade):
    files = {
        **REFERENCE,
        DC: REFERENCE[DC].replace("registry.drydock.test/myapp", "Registry.Drydock.test/MyApp"),
    }
    files[DC] = files[DC].replace("${REGISTRY_URL}/myapp", "${REGISTRY_URL}/MyApp")
    result = grade(files)  # an InfrastructureError would raise here
    assert result.status in (Status.FAILED, Status.REJECTED, Status.ERROR)
    FIGURES.line(f"hostile capital-image-name: {result.status.value}, counted as an attempt")


@pytest.mark.parametrize("spelling", ["no-new-privileges:false", "no-new-privileges=false"])
def test_forced_hardening_cannot_be_turned_off(grade, spelling):
    """The policy refuses added capabilities; what it lets through (a learner's
    `no-new-privileges:false`) must not switch the sandbox's hardening off either."""
    probe = 'grep -E \\"NoNewPrivs|CapEff\\" /proc/self/status; exec node dist/server.js'
    files = {**REFERENCE, DC: REFERENCE[DC].replace(
        "  app:\n",
        f"  app:\n    security_opt: [\"{spelling}\"]\n"
        f"    entrypoint: [\"sh\", \"-c\", \"{probe}\"]\n",
        1,
    )}  # fmt: skip
    result = grade(files)
    log = result.log.rsplit("==> app (last lines) <==", 1)[-1]
    assert "NoNewPrivs:\t1" in log, (result.status, log[-2000:])
    cap_eff = int(log.split("CapEff:\t", 1)[1].split()[0], 16)
    assert not cap_eff & (1 << 13), f"NET_RAW is in CapEff {cap_eff:x}"
    FIGURES.line(f"hostile hardening-off ({spelling}): no-new-privileges stayed on, NET_RAW "
                 f"dropped (CapEff {cap_eff:x}); graded {result.status.value}")  # fmt: skip
