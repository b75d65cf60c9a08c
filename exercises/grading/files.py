"""Load and validate the learner's files: names, sizes, text encoding, symlinks.

Everything the grader reads about a submission goes through here, so the limits hold
whatever the entry point (a directory from the CLI, uploaded contents from the web app).
A symlink that leaves the submission is not an error but a policy violation: the file is
not read, and the grader rejects the submission.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .types import GradingError, PolicyViolation

# The one set of limits on a submission, whatever the entry point (the web form, a .zip, the
# CLI's directory): the web app validates with `files_problems` and shows these messages.
MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 16
MAX_TOTAL_BYTES = 1024 * 1024
MAX_DEPTH = 8
NAME_PART = re.compile(r"[A-Za-z0-9_.-]{1,100}")
DOCKERFILE = "Dockerfile"
COMPOSE_FILE = "docker-compose.yml"  # the name a missing compose file is reported under
# Docker Compose's own order of preference when several of these exist.
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
SKIPPED_DIRS = frozenset({".git"})
WHOLE = ""  # key of `files_problems` for the submission as a whole

FILE_REQUIRED = "{name} is required: paste it into the editor or upload it."
FILE_TOO_LARGE = "{name} is larger than 256 KiB ({size} KiB): the limit is 256 KiB per file."
FILE_NOT_UTF8 = (
    "{name} is not a text file: it is not UTF-8 text. "
    "Save it as UTF-8 (without binary content) and try again."
)
FILE_BINARY = "{name} is not a text file: it contains a NUL byte."
FILE_BAD_NAME = (
    "“{name}” is not an allowed file name (not a valid file name in a submission): use letters, "
    "digits, dots, dashes and underscores, with “/” between folders."
)
TOO_MANY_FILES = (
    f"At most {MAX_FILES} files can be submitted; yours has {{count}}, more than that: send only "
    "the Dockerfile, the compose file, .dockerignore and small extra files."
)
TOO_MUCH = "Your submission is larger than 1 MiB in total."
NO_DIRECTORY = "There is no directory {path}."
NO_DOCKERFILE = FILE_REQUIRED.format(name=DOCKERFILE)
NO_COMPOSE = FILE_REQUIRED.format(name=COMPOSE_FILE)
TOO_DEEP = "{name} is nested too deeply."
NOT_REGULAR = "{name} is not a regular file."
BAD_NAME = FILE_BAD_NAME
SYMLINK_OUTSIDE = "{name} is a symlink that does not point to a file inside the submission."


def files_problems(files: Mapping[str, bytes]) -> dict[str, list[str]]:
    """Every problem of a submission's files at once, by file name (WHOLE: the submission as a
    whole), so that a learner fixes everything in one go; {} when the files can be graded."""
    problems: dict[str, list[str]] = defaultdict(list)
    if len(files) > MAX_FILES:
        problems[WHOLE].append(TOO_MANY_FILES.format(count=len(files)))
    for name, content in files.items():
        if not _allowed(name):
            shown = "".join(c if c.isprintable() else "?" for c in name[:100])
            problems[WHOLE].append(FILE_BAD_NAME.format(name=shown))
        elif len(content) > MAX_FILE_BYTES:
            size = -(-len(content) // 1024)
            problems[name].append(FILE_TOO_LARGE.format(name=name, size=size))
        elif not _utf8(content):
            problems[name].append(FILE_NOT_UTF8.format(name=name))
        elif b"\x00" in content:
            problems[name].append(FILE_BINARY.format(name=name))
    if sum(len(content) for content in files.values()) > MAX_TOTAL_BYTES:
        problems[WHOLE].append(TOO_MUCH)
    if DOCKERFILE not in problems and not files.get(DOCKERFILE, b"").strip():
        problems[DOCKERFILE].append(NO_DOCKERFILE)
    compose = next((n for n in COMPOSE_NAMES if n in files), None)
    if compose not in problems and (compose is None or not files[compose].strip()):
        problems[compose or COMPOSE_FILE].append(NO_COMPOSE)
    return dict(problems)


def _allowed(name: str) -> bool:
    parts = name.split("/")
    return (
        ".." not in name
        and len(parts) <= MAX_DEPTH + 1
        and all(NAME_PART.fullmatch(part) and part not in (".", *SKIPPED_DIRS) for part in parts)
    )


def _utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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
                raise GradingError(TOO_MANY_FILES.format(count=f"{len(files)} or more"))
    return _submission(files, violations, executables)


def submission_from_files(
    files: Mapping[str, bytes], executables: Collection[str] = ()
) -> Submission:
    """Validate uploaded contents (relative name -> bytes) without touching the disk."""
    problems = files_problems(files)
    if problems:
        raise GradingError(next(iter(problems.values()))[0])
    return _submission(dict(files), [], set(executables))


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
    problems = files_problems(files)
    if problems:
        raise GradingError(next(iter(problems.values()))[0])
    compose = next(n for n in COMPOSE_NAMES if n in files)
    return Submission(
        files=files, dockerfile=DOCKERFILE, compose=compose, violations=violations,
        executables=frozenset(executables or ()) & frozenset(files),
    )  # fmt: skip


def _read_regular(path: Path, name: str) -> bytes:
    info = path.lstat()
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or lie about its size
        raise GradingError(NOT_REGULAR.format(name=name))
    if info.st_size > MAX_FILE_BYTES:
        raise GradingError(FILE_TOO_LARGE.format(name=name, size=-(-info.st_size // 1024)))
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        content = handle.read(MAX_FILE_BYTES + 1)
    if len(content) > MAX_FILE_BYTES:
        raise GradingError(FILE_TOO_LARGE.format(name=name, size=f"{MAX_FILE_BYTES // 1024}+"))
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
