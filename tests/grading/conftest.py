"""Fixtures for the grader's unit tests: the lecture's two set-ups and a submission builder.

Everything here is static grading (hadolint + `docker-compose config`); no Docker engine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from exercises.grading.grader import grade_directory
from exercises.grading.types import GradeResult

from .support import read_fixture


@pytest.fixture(autouse=True)
def scratch_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's grading jobs get their own scratch root, so leftovers are visible."""
    root = tmp_path_factory.mktemp("scratch")
    monkeypatch.setenv("DRYDOCK_SCRATCH_DIR", str(root))
    return root


@pytest.fixture
def reference() -> dict[str, str | bytes]:
    return read_fixture("reference")


@pytest.fixture
def development() -> dict[str, str | bytes]:
    return read_fixture("development")


Submit = Callable[..., Path]


@pytest.fixture
def submit(tmp_path: Path) -> Submit:
    """Write files into a fresh submission directory: submit({"Dockerfile": "..."})."""
    counter = iter(range(1_000_000))

    def write(files: dict[str, str | bytes]) -> Path:
        directory = tmp_path / f"submission-{next(counter)}"
        directory.mkdir()
        for name, content in files.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
        return directory

    return write


Grade = Callable[..., GradeResult]


@pytest.fixture
def grade(submit: Submit) -> Grade:
    """Grade files statically: grade({"Dockerfile": ..., "docker-compose.yml": ...})."""

    def run(files: dict[str, str | bytes]) -> GradeResult:
        return grade_directory(submit(files), static_only=True)

    return run
