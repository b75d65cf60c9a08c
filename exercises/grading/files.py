"""Load and validate the learner's files: names, sizes, text encoding, symlinks.

Everything the grader reads about a submission goes through here, so the limits hold
whatever the entry point (a directory from the CLI, uploaded contents from the web app).
A symlink that leaves the submission is not an error but a policy violation: the file is
not read, and the grader rejects the submission.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .types import GradingError, PolicyViolation

MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 64
MAX_TOTAL_BYTES = 1024 * 1024
MAX_DEPTH = 8
DOCKERFILE = "Dockerfile"
# Docker Compose's own order of preference when several of these exist.
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
SKIPPED_DIRS = frozenset({".git"})

NO_DIRECTORY = "There is no directory {path}."
NO_DOCKERFILE = "Your submission has no Dockerfile."
NO_COMPOSE = (
    "Your submission has no compose file "
    "(docker-compose.yml, docker-compose.yaml, compose.yaml or compose.yml)."
)
TOO_LARGE = "{name} is larger than 256 KiB."
TOO_MANY = (
    f"Your submission has more than {MAX_FILES} files: send only the Dockerfile, "
    "the compose file, .dockerignore and small extra files."
)
TOO_MUCH = "Your submission is larger than 1 MiB in total."
TOO_DEEP = "{name} is nested too deeply."
BINARY = "{name} is not a text file (binary content)."
NOT_REGULAR = "{name} is not a regular file."
BAD_NAME = "{name!r} is not a valid file name for a submission."
SYMLINK_OUTSIDE = "{name} is a symlink that does not point to a file inside the submission."


@dataclass
class Submission:
    """The learner's files, by relative POSIX path, all validated as small text files."""

    files: dict[str, bytes]
    dockerfile: str
    compose: str
    violations: list[PolicyViolation] = field(default_factory=list)
    executables: frozenset[str] = frozenset()  # files with an execute bit (entrypoint scripts)

    def mode(self, name: str) -> int:
        return 0o755 if name in self.executables else 0o644

    def text(self, name: str) -> str:
        return self.files[name].decode("utf-8-sig")


def submission_load(directory: Path) -> Submission:
    """Read a submission directory; GradingError for anything that cannot be graded."""
    root = Path(directory)
    if not root.is_dir():
        raise GradingError(NO_DIRECTORY.format(path=directory))
    root = root.resolve()
    files: dict[str, bytes] = {}
    executables: set[str] = set()
    violations: list[PolicyViolation] = []
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        base = Path(current)
        if len(base.relative_to(root).parts) > MAX_DEPTH:
            raise GradingError(TOO_DEEP.format(name=base.relative_to(root).as_posix()))
        for entry in [*dirs, *sorted(names)]:
            if entry in SKIPPED_DIRS:  # a `.git` file (worktrees, submodules) is skipped too
                continue
            path = base / entry
            name = path.relative_to(root).as_posix()
            if path.is_symlink():
                _read_symlink(path, root, name, files, violations)
            elif entry in names:
                files[safe_name(name)] = _read_regular(path, name)
                if path.lstat().st_mode & 0o111:
                    executables.add(safe_name(name))
            if len(files) > MAX_FILES:
                raise GradingError(TOO_MANY)
    return _submission(files, violations, executables)


def submission_from_files(
    files: Mapping[str, bytes], executables: Collection[str] = ()
) -> Submission:
    """Validate uploaded contents (relative name -> bytes) without touching the disk."""
    if len(files) > MAX_FILES:
        raise GradingError(TOO_MANY)
    checked: dict[str, bytes] = {}
    for name, content in files.items():
        clean = safe_name(name)
        if len(content) > MAX_FILE_BYTES:
            raise GradingError(TOO_LARGE.format(name=clean))
        checked[clean] = content
    return _submission(checked, [], {safe_name(name) for name in executables})


def safe_name(name: str) -> str:
    """A relative POSIX name that stays inside the submission, or GradingError."""
    clean = posixpath.normpath(name.replace("\\", "/")) if name else ""
    parts = clean.split("/")
    if (
        not name
        or any(ord(char) < 32 for char in name)
        or clean.startswith("/")
        or clean in (".", "..")
        or ".." in parts
        or len(parts) > MAX_DEPTH + 1
        or any(part in SKIPPED_DIRS for part in parts)
    ):
        raise GradingError(BAD_NAME.format(name=name))
    return clean


def _submission(
    files: dict[str, bytes], violations: list[PolicyViolation], executables: set[str] | None = None
) -> Submission:
    if sum(len(content) for content in files.values()) > MAX_TOTAL_BYTES:
        raise GradingError(TOO_MUCH)
    for name, content in files.items():
        _check_text(name, content)
    compose = next((n for n in COMPOSE_NAMES if n in files), None)
    if DOCKERFILE not in files:
        raise GradingError(NO_DOCKERFILE)
    if compose is None:
        raise GradingError(NO_COMPOSE)
    return Submission(
        files=files, dockerfile=DOCKERFILE, compose=compose, violations=violations,
        executables=frozenset(executables or ()) & frozenset(files),
    )  # fmt: skip


def _read_regular(path: Path, name: str) -> bytes:
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or lie about its size
        raise GradingError(NOT_REGULAR.format(name=name))
    if info.st_size > MAX_FILE_BYTES:
        raise GradingError(TOO_LARGE.format(name=name))
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        content = handle.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:
        raise GradingError(TOO_LARGE.format(name=name))
    return content


def _read_symlink(
    path: Path,
    root: Path,
    name: str,
    files: dict[str, bytes],
    violations: list[PolicyViolation],
) -> None:
    """A link to a file inside the submission counts as that file; anything else is refused."""
    target = Path(os.path.realpath(path))
    if not target.is_relative_to(root) or not target.exists():
        violations.append(PolicyViolation("symlink", SYMLINK_OUTSIDE.format(name=name)))
    elif target.is_file():
        files[safe_name(name)] = _read_regular(target, name)
    # a link to a directory inside the submission is not followed (it could loop)


def _check_text(name: str, content: bytes) -> None:
    if b"\x00" in content:
        raise GradingError(BINARY.format(name=name))
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        raise GradingError(BINARY.format(name=name)) from None
