"""Search across the published course: every word of the query must appear in a section.

Plain `icontains` lookups, so it runs unchanged on SQLite and PostgreSQL (the course is a few
dozen sections; a full-text index would add a backend-specific migration for no gain). Matching
is on the section's Markdown, title, and its lesson's title; the snippet is cut from the text
the reader sees (the rendered HTML without tags) and the matches are wrapped in <mark>.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from django.db.models import Q
from django.utils.html import strip_tags
from django.utils.safestring import SafeString, mark_safe

from .models import Section

MIN_QUERY_LENGTH = 2
MAX_QUERY_LENGTH = 100
MAX_TERMS = 6
MAX_RESULTS = 50
SNIPPET_RADIUS = 90  # characters of context either side of the first match


@dataclass(frozen=True)
class SearchHit:
    section: Section
    url: str
    course_title: str
    lesson_title: str
    title_html: SafeString
    snippet_html: SafeString
    score: int


def search_terms(query: str) -> list[str]:
    """The distinct words of a query, longest first, ignoring one-letter noise."""
    words = query[:MAX_QUERY_LENGTH].split()
    unique = list(dict.fromkeys(w for w in words if len(w) >= MIN_QUERY_LENGTH))
    return sorted(unique, key=len, reverse=True)[:MAX_TERMS]


def _pattern(terms: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)


def highlight(text: str, terms: list[str]) -> SafeString:
    """Escape `text` and wrap every occurrence of a term in <mark>."""
    if not terms:
        return mark_safe(html.escape(text))
    out, last = [], 0
    for match in _pattern(terms).finditer(text):
        out.append(html.escape(text[last : match.start()]))
        out.append(f"<mark>{html.escape(match.group(0))}</mark>")
        last = match.end()
    out.append(html.escape(text[last:]))
    return mark_safe("".join(out))


def _plain_text(body_html: str) -> str:
    text = html.unescape(strip_tags(body_html))
    return re.sub(r"\s+", " ", text).strip()


def _snippet(text: str, terms: list[str]) -> str:
    match = _pattern(terms).search(text)
    if match is None:
        return text[: 2 * SNIPPET_RADIUS] + ("…" if len(text) > 2 * SNIPPET_RADIUS else "")
    start = max(0, match.start() - SNIPPET_RADIUS)
    end = min(len(text), match.end() + SNIPPET_RADIUS)
    if start > 0:  # start on a word boundary
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < match.start() else start
    if end < len(text):
        space = text.rfind(" ", match.end(), end)
        end = space if space > 0 else end
    return ("…" if start > 0 else "") + text[start:end] + ("…" if end < len(text) else "")


def _score(section: Section, text: str, terms: list[str]) -> int:
    pattern = _pattern(terms)
    return (
        10 * len(pattern.findall(section.title))
        + 5 * len(pattern.findall(section.lesson.title))
        + len(pattern.findall(text))
    )


def section_search(*, query: str) -> list[SearchHit]:
    """Published sections of published lessons matching every term, best first (one query)."""
    terms = search_terms(query)
    if not terms:
        return []
    sections = Section.objects.published().filter(
        lesson__published=True,
        lesson__module__published=True,
        lesson__module__course__published=True,
    )
    for term in terms:
        sections = sections.filter(
            Q(body__icontains=term) | Q(title__icontains=term) | Q(lesson__title__icontains=term)
        )
    sections = sections.select_related("lesson__module__course").order_by(
        "lesson__module__order", "lesson__order", "order", "id"
    )
    hits = []
    for section in sections[: MAX_RESULTS * 2]:
        text = _plain_text(section.body_html)
        hits.append(
            SearchHit(
                section=section,
                url=section.get_absolute_url(),
                course_title=section.lesson.module.course.title,
                lesson_title=section.lesson.title,
                title_html=highlight(section.title, terms),
                snippet_html=highlight(_snippet(text, terms), terms),
                score=_score(section, text, terms),
            )
        )
    hits.sort(key=lambda hit: -hit.score)  # stable: ties keep the course order
    return hits[:MAX_RESULTS]
