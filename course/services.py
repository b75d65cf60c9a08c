"""Write-side operations on course content and progress."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.db import transaction

from .models import (
    Choice,
    Course,
    Lesson,
    Module,
    Question,
    QuestionAnswer,
    Section,
    SectionProgress,
)

# Learner-facing messages (tests assert on these).
ANSWER_EMPTY = "Choose an answer first."
ANSWER_ONE = "Choose exactly one answer."
ANSWER_UNKNOWN = "That answer is not one of this question's choices; reload the page and try again."


class KnowledgeCheckError(Exception):
    """An answer that cannot be graded; the message is shown to the learner as it is."""


def question_answer(*, user, question: Question, choice_ids: list[int]) -> QuestionAnswer:
    """Grade and keep a learner's answer: right when exactly the correct choices are chosen."""
    chosen = set(choice_ids)
    if not chosen:
        raise KnowledgeCheckError(ANSWER_EMPTY)
    if not question.multiple and len(chosen) != 1:
        raise KnowledgeCheckError(ANSWER_ONE)
    choices = {choice.id: choice.correct for choice in question.choices.all()}
    if not chosen <= choices.keys():
        raise KnowledgeCheckError(ANSWER_UNKNOWN)
    correct = chosen == {pk for pk, right in choices.items() if right}
    answer, created = QuestionAnswer.objects.get_or_create(
        user=user, question=question, defaults={"choice_ids": sorted(chosen), "correct": correct}
    )
    if not created:
        answer.choice_ids, answer.correct, answer.attempts = (
            sorted(chosen),
            correct,
            answer.attempts + 1,
        )
        answer.save()
    return answer


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
class ParsedQuestion:
    slug: str
    kind: str
    prompt: str
    explanation: str
    section: str
    choices: list[tuple[str, bool]]


@dataclass
class ParsedLesson:
    slug: str
    title: str
    summary: str
    sections: list[ParsedSection] = field(default_factory=list)
    questions: list[ParsedQuestion] = field(default_factory=list)


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_edits: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        if self.kept_edits:
            text += f"; kept instructor edits in {len(self.kept_edits)}: " + ", ".join(
                self.kept_edits
            )
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


def _parse_question(spec: dict, name: str, section_slugs: set[str]) -> ParsedQuestion:
    where = f"{name}: question '{spec.get('slug', '?')}'"
    for key in ("slug", "kind", "prompt", "explanation", "section", "choices"):
        if not spec.get(key):
            raise ContentError(f"{where} needs '{key}'")
    if spec["kind"] not in Question.Kind.values:
        raise ContentError(f"{where}: kind must be one of {', '.join(Question.Kind.values)}")
    if spec["section"] not in section_slugs:
        raise ContentError(f"{where}: no section '{spec['section']}' in this lesson")
    choices = [
        (str(choice["text"]).strip(), bool(choice.get("correct"))) for choice in spec["choices"]
    ]
    right = sum(correct for _, correct in choices)
    if len(choices) < 2 or right == 0 or (spec["kind"] != Question.Kind.MULTIPLE and right != 1):
        raise ContentError(
            f"{where}: needs two or more choices and exactly one right (or, if multiple, one or more)"
        )
    return ParsedQuestion(
        slug=spec["slug"], kind=spec["kind"], prompt=spec["prompt"].strip() + "\n",
        explanation=spec["explanation"].strip() + "\n", section=spec["section"], choices=choices,
    )  # fmt: skip


def parse_questions(path: Path, section_slugs: set[str]) -> list[ParsedQuestion]:
    """A lesson's knowledge check: `checks/<lesson file>.yaml`, a list of questions (optional)."""
    if not path.exists():
        return []
    specs = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(specs, list):
        raise ContentError(f"{path.name}: expected a list of questions")
    return [_parse_question(spec, path.name, section_slugs) for spec in specs]


def parse_lesson(path: Path) -> ParsedLesson:
    meta, body = _split_front_matter(path.read_text(encoding="utf-8"), path.name)
    sections = _split_sections(body, path.name)
    checks = path.parent.parent / "checks" / f"{path.stem}.yaml"
    return ParsedLesson(
        slug=meta["slug"],
        title=meta["title"],
        summary=meta.get("summary", ""),
        sections=sections,
        questions=parse_questions(checks, {section.slug for section in sections}),
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


def _set_choices(question: Question, choices: list[tuple[str, bool]]) -> None:
    """Update choices in place, by position, so learners' stored answers keep their ids."""
    existing = list(question.choices.all())
    for order, (text, correct) in enumerate(choices, start=1):
        if order <= len(existing):
            choice = existing[order - 1]
            if (choice.text, choice.correct, choice.order) != (text, correct, order):
                choice.text, choice.correct, choice.order = text, correct, order
                choice.save()
        else:
            Choice.objects.create(question=question, text=text, correct=correct, order=order)
    Choice.objects.filter(pk__in=[choice.pk for choice in existing[len(choices) :]]).delete()


def _question_state(question: Question) -> tuple:
    choices = [(choice.text, choice.correct) for choice in question.choices.all()]
    section = question.section.slug if question.section_id else ""
    return (question.kind, question.prompt, question.explanation, section, question.order, choices)


def _upsert_question(
    lesson: Lesson, order: int, parsed: ParsedQuestion, report: LoadReport
) -> None:
    question = Question.objects.filter(lesson=lesson, slug=parsed.slug).first()
    if question is not None:
        if question.content_hash() != question.source_hash:
            report.kept_edits.append(f"{lesson.slug}/check/{question.slug}")
            return
        wanted = (
            parsed.kind,
            parsed.prompt,
            parsed.explanation,
            parsed.section,
            order,
            parsed.choices,
        )
        if _question_state(question) == wanted:
            report.unchanged += 1
            return
    created = question is None
    question = question or Question(lesson=lesson, slug=parsed.slug)
    question.kind, question.prompt, question.explanation, question.order = (
        parsed.kind, parsed.prompt, parsed.explanation, order,
    )  # fmt: skip
    question.section = Section.objects.get(lesson=lesson, slug=parsed.section)
    question.save()
    _set_choices(question, parsed.choices)
    question.source_hash = question.content_hash()
    question.save(update_fields=["source_hash"])
    if created:
        report.created += 1
    else:
        report.updated += 1


@transaction.atomic
def course_load(*, directory: Path) -> LoadReport:
    """Load (idempotently) a course directory: course.yaml, lessons/*.md and checks/*.yaml.

    Sections and questions an instructor edited in the admin since the last load are kept, not overwritten.
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
            for question_order, question in enumerate(parsed.questions, start=1):
                _upsert_question(lesson, question_order, question, report)
    return report
