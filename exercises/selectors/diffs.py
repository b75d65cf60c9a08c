"""Two attempts side by side: what changed in the files, and which checks changed."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..grading.types import CHECK_IDS
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


def _file_pairs(old: Submission, new: Submission) -> list[tuple[str, str | None, str | None, str]]:
    """(name, before, after, status) for every file of either attempt, the Dockerfile and
    the compose file first."""
    pairs = []
    for name in sorted(
        set(old.files) | set(new.files),
        key=lambda n: (n not in ("Dockerfile", "docker-compose.yml"), n),
    ):
        before, after = old.files.get(name), new.files.get(name)
        if before is None:
            status = "added"
        elif after is None:
            status = "removed"
        else:
            status = "same" if before == after else "changed"
        pairs.append((name, before, after, status))
    return pairs


def submission_diff(*, old: Submission, new: Submission) -> list[FileDiff]:
    """A unified diff of two attempts, file by file (the template escapes every line)."""
    diffs = []
    for name, before, after, status in _file_pairs(old, new):
        lines = difflib.unified_diff(
            (before or "").splitlines(), (after or "").splitlines(),
            fromfile=f"attempt {old.attempt or '–'}/{name}", tofile=f"attempt {new.attempt or '–'}/{name}",
            lineterm="", n=3,
        )  # fmt: skip
        diffs.append(FileDiff(name, status, [DiffLine(_diff_kind(line), line) for line in lines]))
    return diffs


# Split view -----------------------------------------------------------------------------------

SPLIT_CONTEXT = 3  # unchanged lines kept around each change


@dataclass(frozen=True)
class SplitRow:
    """One row of a side-by-side diff; a `skip` row stands for `skipped` unchanged lines."""

    kind: str  # "same" | "change" | "skip"
    old_number: int | None = None
    old_text: str | None = None
    new_number: int | None = None
    new_text: str | None = None
    skipped: int = 0

    @property
    def old_kind(self) -> str:
        return "del" if self.kind == "change" and self.old_text is not None else ""

    @property
    def new_kind(self) -> str:
        return "add" if self.kind == "change" and self.new_text is not None else ""


@dataclass
class SplitFileDiff:
    name: str
    status: str
    rows: list[SplitRow]


def _split_rows(before: list[str], after: list[str]) -> list[SplitRow]:
    rows: list[SplitRow] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows.extend(
                SplitRow("same", i1 + k + 1, before[i1 + k], j1 + k + 1, after[j1 + k])
                for k in range(i2 - i1)
            )
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            old = i1 + k if i1 + k < i2 else None
            new = j1 + k if j1 + k < j2 else None
            rows.append(
                SplitRow(
                    "change",
                    None if old is None else old + 1,
                    None if old is None else before[old],
                    None if new is None else new + 1,
                    None if new is None else after[new],
                )
            )
    return _collapse(rows)


def _collapse(rows: list[SplitRow]) -> list[SplitRow]:
    """Keep SPLIT_CONTEXT unchanged rows around changes; fold the rest into `skip` rows."""
    changed = [i for i, row in enumerate(rows) if row.kind == "change"]
    keep = {
        j
        for i in changed
        for j in range(max(0, i - SPLIT_CONTEXT), min(len(rows), i + SPLIT_CONTEXT + 1))
    }
    collapsed: list[SplitRow] = []
    run = 0
    for i, row in enumerate(rows):
        if i in keep:
            if run:
                collapsed.append(SplitRow("skip", skipped=run))
                run = 0
            collapsed.append(row)
        else:
            run += 1
    if run and collapsed:
        collapsed.append(SplitRow("skip", skipped=run))
    return collapsed


def submission_split_diff(*, old: Submission, new: Submission) -> list[SplitFileDiff]:
    """Two attempts side by side, file by file, with line numbers (the template escapes text)."""
    diffs = []
    for name, before, after, status in _file_pairs(old, new):
        rows = _split_rows((before or "").splitlines(), (after or "").splitlines())
        diffs.append(SplitFileDiff(name, status, rows))
    return diffs


@dataclass(frozen=True)
class CheckChange:
    check_id: str
    title: str
    before: bool | None  # None: not checked in that attempt
    after: bool | None

    @property
    def direction(self) -> str:
        return "better" if self.after else "worse"


def checks_changed(*, old: Submission, new: Submission) -> list[CheckChange]:
    """The checks whose outcome differs between two attempts (final result, else the static one)."""
    titles = dict(new.exercise.checklist.values_list("check_id", "title"))

    def outcomes(submission: Submission) -> dict[str, bool]:
        result = submission.result or submission.static_result or {}
        return {c["id"]: bool(c.get("passed")) for c in result.get("checks") or []}

    before, after = outcomes(old), outcomes(new)
    return [
        CheckChange(
            check_id, titles.get(check_id, check_id), before.get(check_id), after.get(check_id)
        )
        for check_id in CHECK_IDS
        if before.get(check_id) != after.get(check_id)
    ]
