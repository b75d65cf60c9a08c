"""Two attempts side by side: what changed in the files, and which checks changed."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..models import Submission


@dataclass
class DiffLine:
    kind: str  # "add" | "del" | "hunk" | "ctx" | "meta"
    text: str


@dataclass
class FileDiff:
    name: str
    status: str  # "changed" | "added" | "removed" | "same"
    lines: list[DiffLine]


def _diff_kind(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "meta"
    if line.startswith("@@"):
        return "hunk"
    return {"+": "add", "-": "del"}.get(line[:1], "ctx")


def submission_diff(*, old: Submission, new: Submission) -> list[FileDiff]:
    """A unified diff of two attempts, file by file (the template escapes every line)."""
    diffs = []
    for name in sorted(
        set(old.files) | set(new.files),
        key=lambda n: (n not in ("Dockerfile", "docker-compose.yml"), n),
    ):
        before, after = old.files.get(name), new.files.get(name)
        status = (
            "added"
            if before is None
            else "removed"
            if after is None
            else "same"
            if before == after
            else "changed"
        )
        lines = difflib.unified_diff(
            (before or "").splitlines(), (after or "").splitlines(),
            fromfile=f"attempt {old.attempt or '–'}/{name}", tofile=f"attempt {new.attempt or '–'}/{name}",
            lineterm="", n=3,
        )  # fmt: skip
        diffs.append(FileDiff(name, status, [DiffLine(_diff_kind(line), line) for line in lines]))
    return diffs
