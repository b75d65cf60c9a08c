"""`grade DIR [--exercise docker-production] [--static-only] [--json]`: exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exercises.grading import cli
from exercises.grading.types import CHECK_IDS, InfrastructureError

TOP_KEYS = {
    "exercise",
    "status",
    "score",
    "mode",
    "checks",
    "extensions",
    "policy",
    "error",
    "timings",
}
CHECK_KEYS = {"id", "passed", "summary", "evidence", "hint"}
TIMING_KEYS = {"static_ms", "build_ms", "run_ms", "total_ms"}


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = cli.main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_passed_json(capsys, submit, reference):
    code, data = run_json(capsys, str(submit(reference)), "--static-only")
    assert code == 0
    assert set(data) == TOP_KEYS
    assert (data["status"], data["score"], data["mode"], data["error"]) == (
        "passed",
        100,
        "static",
        None,
    )
    assert [c["id"] for c in data["checks"]] == list(CHECK_IDS)
    assert all(set(c) == CHECK_KEYS and c["passed"] is True for c in data["checks"])
    assert all(isinstance(line, str) for c in data["checks"] for line in c["evidence"])
    assert set(data["timings"]) == TIMING_KEYS
    assert {e["id"] for e in data["extensions"]} == {
        "logging",
        "monitoring",
        "backups",
        "network-segmentation",
        "ci-cd",
    }
    assert data["policy"] == []


def test_failed_json_exits_0(capsys, submit, development):
    code, data = run_json(
        capsys, str(submit(development)), "--static-only", "--exercise", "docker-production"
    )
    assert code == 0
    assert data["status"] == "failed" and data["score"] == 0
    assert all(c["hint"] for c in data["checks"])


def test_rejected_exits_3(capsys, submit, reference):
    files = {
        **reference,
        "docker-compose.yml": "services:\n  app:\n    build: .\n    volumes: ['/var/run/docker.sock:/var/run/docker.sock']\n",
    }
    code, data = run_json(capsys, str(submit(files)), "--static-only")
    assert code == 3
    assert data["status"] == "rejected" and data["checks"] == [] and data["score"] == 0
    assert data["policy"][0]["rule"] == "bind-mount"


@pytest.mark.parametrize(
    "files",
    [
        {"docker-compose.yml": "services: {}\n"},
        {"Dockerfile": "FROM node:18-alpine\n", "compose.yaml": "services: [\n"},
    ],
)
def test_error_exits_2(capsys, submit, files):
    code, data = run_json(capsys, str(submit(files)), "--static-only")
    assert code == 2
    assert data["status"] == "error" and data["error"] and "\n" not in data["error"]


def test_missing_directory_exits_2(capsys, tmp_path):
    code, data = run_json(capsys, str(tmp_path / "missing"), "--static-only")
    assert code == 2 and "There is no directory" in data["error"]


def test_infrastructure_error_is_an_error_without_traceback(capsys, submit, reference, monkeypatch):
    def down(*args, **kwargs):
        raise InfrastructureError("engine unreachable")

    monkeypatch.setattr(cli, "grade_directory", down)
    code, data = run_json(capsys, str(submit(reference)))
    assert code == 2
    assert data["error"] == cli.INFRASTRUCTURE.format(problem="engine unreachable")


def test_usage_errors_exit_2(capsys):
    assert cli.main([]) == 2
    assert cli.main(["dir", "--exercise", "unknown"]) == 2
    assert cli.main(["--help"]) == 0


def test_readable_report(capsys, submit, development):
    assert cli.main([str(submit(development)), "--static-only"]) == 0
    out = capsys.readouterr().out
    assert "FAILED: 0 of 7 checks pass." in out
    assert "✗ minimal-base-image:" in out and "hint:" in out
    assert "Challenge extension (bonus):" in out


def test_readable_report_of_a_rejection(capsys, submit, reference):
    files = {
        **reference,
        "docker-compose.yml": "services:\n  app:\n    build: .\n    privileged: true\n",
    }
    assert cli.main([str(submit(files)), "--static-only"]) == 3
    out = capsys.readouterr().out
    assert "REJECTED" in out and "[privileged] service app runs privileged" in out


def test_runnable_as_a_module(submit, reference):
    root = Path(__file__).resolve().parents[2]
    completed = subprocess.run(
        [sys.executable, "-m", "exercises.grading.cli", str(submit(reference)), "--static-only", "--json"],
        cwd=root, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["status"] == "passed"
