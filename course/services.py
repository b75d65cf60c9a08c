"""Write-side operations on course content and progress."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.db import transaction

from .models import Course, Lesson, Module, Section, SectionProgress


def section_set_complete(*, user, section: Section, completed: bool) -> None:
    """Record (or forget) that a signed-in learner finished a section."""
    if completed:
        SectionProgress.objects.get_or_create(user=user, section=section)
    else:
        SectionProgress.objects.filter(user=user, section=section).delete()


class ContentError(Exception):
    """A content file is malformed; the message names the file."""


@dataclass
class ParsedSection:
    slug: str
    title: str
    body: str


@dataclass
class ParsedLesson:
    slug: str
    title: str
    summary: str
    sections: list[ParsedSection] = field(default_factory=list)


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_edits: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        if self.kept_edits:
            text += f"; kept instructor edits in {len(self.kept_edits)}: " + ", ".join(self.kept_edits)
        return text


def _split_front_matter(text: str, name: str) -> tuple[dict, str]:
    if not text.startswith("---\n"):
        raise ContentError(f"{name}: missing YAML front matter")
    try:
        head, body = text[4:].split("\n---\n", 1)
    except ValueError as exc:
        raise ContentError(f"{name}: front matter is not closed with ---") from exc
    meta = yaml.safe_load(head) or {}
    for key in ("title", "slug"):
        if not meta.get(key):
            raise ContentError(f"{name}: front matter needs '{key}'")
    return meta, body


def _split_sections(body: str, name: str) -> list[ParsedSection]:
    """Split at level-2 headings `## Title {#slug}`, ignoring `##` inside code fences."""
    heading = re.compile(r"^## (?P<title>.+?)(?:\s*\{#(?P<slug>[\w-]+)\})?\s*$")
    sections: list[ParsedSection] = []
    in_fence = False
    for line in body.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else heading.match(line)
        if match:
            slug = match["slug"] or re.sub(r"[^a-z0-9]+", "-", match["title"].lower()).strip("-")
            sections.append(ParsedSection(slug=slug, title=match["title"].strip(), body=""))
        elif sections:
            sections[-1].body += line + "\n"
        elif line.strip():
            raise ContentError(f"{name}: text before the first '## ' section heading")
    for section in sections:
        section.body = section.body.strip("\n") + "\n"
        if not section.body.strip():
            raise ContentError(f"{name}: section '{section.title}' is empty")
    return sections


def parse_lesson(path: Path) -> ParsedLesson:
    meta, body = _split_front_matter(path.read_text(encoding="utf-8"), path.name)
    return ParsedLesson(
        slug=meta["slug"],
        title=meta["title"],
        summary=meta.get("summary", ""),
        sections=_split_sections(body, path.name),
    )


def _upsert_section(lesson: Lesson, order: int, parsed: ParsedSection, report: LoadReport) -> None:
    new_hash = Section.hash_body(parsed.body)
    section = Section.objects.filter(lesson=lesson, slug=parsed.slug).first()
    if section is None:
        Section.objects.create(
            lesson=lesson, slug=parsed.slug, title=parsed.title, body=parsed.body,
            order=order, source_hash=new_hash,
        )  # fmt: skip
        report.created += 1
        return
    edited = Section.hash_body(section.body) != section.source_hash
    if edited:
        report.kept_edits.append(f"{lesson.slug}/{section.slug}")
        return
    if (section.title, section.body, section.order) == (parsed.title, parsed.body, order):
        report.unchanged += 1
        return
    section.title, section.body, section.order, section.source_hash = (
        parsed.title, parsed.body, order, new_hash,
    )  # fmt: skip
    section.save()
    report.updated += 1


@transaction.atomic
def course_load(*, directory: Path) -> LoadReport:
    """Load (idempotently) a course directory: course.yaml plus lessons/*.md.

    Sections an instructor edited in the admin since the last load are kept, not overwritten.
    """
    manifest_path = directory / "course.yaml"
    if not manifest_path.exists():
        raise ContentError(f"{manifest_path}: not found")
    manifest = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    report = LoadReport()
    course, _ = Course.objects.update_or_create(
        slug=manifest["slug"],
        defaults={"title": manifest["title"], "summary": manifest.get("summary", "")},
    )
    for module_order, module_spec in enumerate(manifest.get("modules", []), start=1):
        module, _ = Module.objects.update_or_create(
            course=course,
            slug=module_spec["slug"],
            defaults={
                "title": module_spec["title"],
                "summary": module_spec.get("summary", ""),
                "order": module_order,
            },
        )
        for lesson_order, filename in enumerate(module_spec.get("lessons", []), start=1):
            parsed = parse_lesson(directory / "lessons" / filename)
            lesson, _ = Lesson.objects.update_or_create(
                module=module,
                slug=parsed.slug,
                defaults={"title": parsed.title, "summary": parsed.summary, "order": lesson_order},
            )
            for section_order, section in enumerate(parsed.sections, start=1):
                _upsert_section(lesson, section_order, section, report)
    return report
