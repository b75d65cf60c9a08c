"""A result (static or final) laid out for the learner: rows along the checklist, findings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from course.rendering import render_markdown

from ..grading.types import CHECK_IDS
from ..models import Exercise
from .pages import checklist_links


@dataclass
class CheckRow:
    check_id: str
    title: str
    passed: bool | None  # None: the result has no such check (not graded)
    summary: str
    evidence: list[str]
    notes: list[str]  # the "sandbox: ..." lines: how the sandbox differs from production
    hint: str
    lesson_url: str

    @property
    def problems(self) -> list[str]:
        """The failing lines of the evidence, shown at once (the rest stays in "Evidence")."""
        return [line for line in self.evidence if line.startswith(("✗", "warning:"))]

    @property
    def other_evidence(self) -> list[str]:
        return [line for line in self.evidence if not line.startswith(("✗", "warning:"))]

    @property
    def hint_html(self) -> str:
        return hint_html(self.hint)


@dataclass
class SubmissionReport:
    """A result (static or final) laid out along the exercise's checklist."""

    status: str
    mode: str
    rows: list[CheckRow]
    passed: int
    total: int
    score: int
    extensions: list[dict[str, Any]]
    policy: list[dict[str, Any]]
    error: str | None

    @property
    def settled(self) -> bool:
        """An error or a rejection: no check ran, so no row is worth showing."""
        return self.status in ("error", "rejected") and not any(
            row.passed is not None for row in self.rows
        )


@lru_cache(maxsize=256)
def hint_html(text: str) -> str:
    """A hint as Markdown (backticks become code), sanitised by the course pipeline."""
    return render_markdown(text).html if text else ""


def _split_notes(lines: list[str]) -> tuple[list[str], list[str]]:
    evidence = [line for line in lines if not line.startswith("sandbox:")]
    return evidence, [line for line in lines if line.startswith("sandbox:")]


def submission_report(
    *, exercise: Exercise, result: dict[str, Any] | None
) -> SubmissionReport | None:
    if not result:
        return None
    items = list(exercise.checklist.all())
    links = checklist_links(items)
    checks = {check["id"]: check for check in result.get("checks") or []}
    rows = []
    for item in items:
        check = checks.pop(item.check_id, None)
        evidence, notes = _split_notes(list((check or {}).get("evidence") or []))
        rows.append(
            CheckRow(
                check_id=item.check_id,
                title=item.title,
                passed=None if check is None else bool(check.get("passed")),
                summary=(check or {}).get("summary", ""),
                evidence=evidence,
                notes=notes,
                hint=item.hint or (check or {}).get("hint", ""),
                lesson_url=links.get(item.check_id, ""),
            )
        )
    for check in checks.values():  # a check the checklist does not list (yet): still shown
        evidence, notes = _split_notes(list(check.get("evidence") or []))
        rows.append(
            CheckRow(
                check["id"],
                check["id"],
                bool(check.get("passed")),
                check.get("summary", ""),
                evidence,
                notes,
                check.get("hint", ""),
                "",
            )
        )
    return SubmissionReport(
        status=result.get("status", ""),
        mode=result.get("mode", ""),
        rows=rows,
        passed=sum(1 for row in rows if row.passed),
        total=len(CHECK_IDS),
        score=result.get("score") or 0,
        extensions=[e for e in result.get("extensions") or [] if e.get("present")],
        policy=list(result.get("policy") or []),
        error=result.get("error"),
    )
