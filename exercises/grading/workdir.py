"""A grading's scratch space: where jobs get their directories, the project a job builds (the
starter overlaid with the learner's files and the grader's own), and their sweeping."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import COMPOSE_NAMES, Submission, safe_name
from .types import GradingError

logger = logging.getLogger(__name__)

SCRATCH_ENV = "DRYDOCK_SCRATCH_DIR"
ASSETS_ENV = "DRYDOCK_EXERCISE_ASSETS_DIR"
STARTER_SKIPPED = ("node_modules", "Dockerfile", *COMPOSE_NAMES)  # never copied from the starter
VOLUMES_DIR = ".drydock-volumes"  # bind devices of the learner's volumes, inside the workdir
STARTER_MISSING = "The starter project of exercise {exercise} is missing ({path})."
CANNOT_WRITE = "{name} clashes with a folder or file of the project (it cannot be written)."


def scratch_root() -> Path:
    """Where jobs get their scratch directories (env DRYDOCK_SCRATCH_DIR)."""
    root = Path(os.environ.get(SCRATCH_ENV) or Path(tempfile.gettempdir()) / "drydock-jobs")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def scratch_sweep(*, older_than_s: float) -> int:
    """Remove job and upload scratch directories older than `older_than_s` seconds: those of
    gradings whose worker died before `Job.close` (a live job's are younger than the
    longest grading). Returns how many were removed."""
    cutoff = time.time() - older_than_s
    removed = 0
    for path in scratch_root().iterdir():
        try:
            stale = path.name.startswith(("job-", "upload-")) and path.lstat().st_mtime <= cutoff
        except OSError:
            continue
        if stale and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed += not path.exists()
    return removed


def assets_dir(exercise: str) -> Path:
    root = os.environ.get(ASSETS_ENV) or Path(__file__).resolve().parent.parent / "assets"
    return Path(root) / exercise


@dataclass
class Job:
    """One grading's scratch directories and tool processes; `close` releases them all."""

    id: str
    tools: list[Any] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)

    @property
    def project(self) -> str:
        return f"drydock-{self.id}"

    def directory(self, suffix: str = "") -> Path:
        path = scratch_root() / f"job-{self.id}{suffix}"
        path.mkdir(mode=0o700, exist_ok=True)
        self.dirs.append(path)
        return path

    def close(self) -> None:
        for tool in self.tools:
            tool.kill()
        for path in self.dirs:
            shutil.rmtree(path, ignore_errors=True)


def prepare_workdir(
    job: Job, submission: Submission, supplied: Mapping[str, str], exercise: str
) -> Path:
    """The starter project, overlaid with the learner's files and the grader's secret files."""
    workdir = job.directory()
    starter = assets_dir(exercise) / "starter"
    if starter.is_dir():
        shutil.copytree(
            starter, workdir, dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(*STARTER_SKIPPED),
        )  # fmt: skip
    else:
        logger.warning(STARTER_MISSING.format(exercise=exercise, path=starter))
    for name, content in submission.files.items():
        _write(workdir, name, content, mode=submission.mode(name))
    for name, text in supplied.items():
        _write(workdir, name, text.encode("utf-8"))
    return workdir


def _write(root: Path, name: str, content: bytes, *, mode: int = 0o644) -> None:
    target = root / safe_name(name)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.is_dir():
            raise IsADirectoryError(name)
        target.write_bytes(content)
        target.chmod(mode)  # 0644 at least: secret files are read by a non-root user
    except OSError:
        raise GradingError(CANNOT_WRITE.format(name=name)) from None
