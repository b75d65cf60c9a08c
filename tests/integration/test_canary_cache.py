"""Canary values are stable per installation and file (an HMAC of the server's key), so a
learner's `COPY . .` that takes in the grader's secret files still hits the build cache in
the next grading; a copied secret is still found (test_runtime's canary tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exercises.grading import sandbox, sandbox_inputs
from exercises.grading.compose import compose_document
from exercises.grading.grader import grade_directory
from exercises.grading.sandbox.canary import canaries_can_reach_layers
from exercises.grading.types import ProjectFile, Status

from .conftest import REFERENCE

COMPOSE = (REFERENCE / "docker-compose.yml").read_text()


def inputs() -> sandbox_inputs.SandboxInputs:
    return sandbox_inputs.sandbox_inputs(
        compose_document(COMPOSE, "docker-compose.yml"), COMPOSE, texts={}
    )


@pytest.fixture
def canary_key(monkeypatch):
    def use(key: str) -> None:
        monkeypatch.setenv(sandbox_inputs.CANARY_KEY_ENV, key)
        sandbox_inputs.canary_key.cache_clear()

    yield use
    sandbox_inputs.canary_key.cache_clear()


def test_canaries_are_the_same_in_every_job_and_differ_per_installation_and_file(canary_key):
    canary_key("k" * 64)
    first, second = inputs(), inputs()
    assert first.canaries == second.canaries and first.files == second.files
    assert len(set(first.canaries)) == len(first.canaries) == 2  # the db password, app_secret
    canary_key("other-installation-" + "x" * 40)
    assert not set(inputs().canaries) & set(first.canaries)


def test_the_canary_key_is_generated_once_into_its_file(monkeypatch, tmp_path):
    monkeypatch.delenv(sandbox_inputs.CANARY_KEY_ENV, raising=False)
    monkeypatch.setenv(sandbox_inputs.CANARY_KEY_FILE_ENV, str(tmp_path / "var" / "canary_key"))
    sandbox_inputs.canary_key.cache_clear()
    try:
        key = sandbox_inputs.canary_key()
        assert (tmp_path / "var" / "canary_key").stat().st_mode & 0o077 == 0
        sandbox_inputs.canary_key.cache_clear()
        assert sandbox_inputs.canary_key() == key
    finally:
        sandbox_inputs.canary_key.cache_clear()


@pytest.mark.engine
@pytest.mark.slow
def test_a_second_grading_reuses_the_build_cache_of_copy_dot(tmp_path: Path, standins):
    submission = tmp_path / "submission"
    submission.mkdir()
    for name in ("Dockerfile", "docker-compose.yml"):
        (submission / name).write_text((REFERENCE / name).read_text())
    (submission / ".dockerignore").write_text("node_modules\n")  # secrets/ in the context

    results = [grade_directory(submission) for _ in range(2)]
    sandbox.wait_for_teardown()

    assert [r.status for r in results] == [Status.PASSED, Status.PASSED], results[1].error
    lines = results[1].log.splitlines()
    for step in ("COPY . .", "RUN npm run build"):
        at = next(i for i, line in enumerate(lines) if line.rstrip().endswith(step))
        assert "Using cache" in lines[at + 1], lines[at : at + 3]


def _context(**texts: str) -> dict[str, ProjectFile]:
    return {
        name.replace("__", "/"): ProjectFile(content=text.encode()) for name, text in texts.items()
    }


@pytest.mark.parametrize(
    ("context", "buildargs", "reachable"),
    [
        (_context(Dockerfile="FROM node:18-alpine\nCOPY . .\n", app="x"), {}, False),
        (_context(Dockerfile="FROM node:18-alpine\nCOPY . .\n", secrets__app="CANARY\n"), {}, True),
        (
            _context(Dockerfile="FROM node:18-alpine\nARG PW\nRUN echo $PW > /pw\n"),
            {"PW": "CANARY"},
            True,
        ),
        (_context(Dockerfile="FROM node:18-alpine\n  add app.tar.gz /\n", app="x"), {}, True),
        (
            _context(
                Dockerfile="# syntax=docker/dockerfile:1\nFROM node:18-alpine\n"
                "RUN --mount=type=secret,id=pw cat /run/secrets/pw > /pw\n"
            ),
            {},
            True,
        ),
    ],
    ids=[
        "nothing-to-copy",
        "secret-in-context",
        "build-arg",
        "add-unpacks",
        "buildkit-secret-mount",
    ],
)
def test_the_layer_scan_is_skipped_only_when_no_canary_can_reach_a_layer(
    context, buildargs, reachable
):
    assert canaries_can_reach_layers(context, "Dockerfile", buildargs, ["CANARY"]) is reachable
