"""Course search: what a learner finds, how matches are shown, and what stays hidden."""

from __future__ import annotations

import pytest

from course.models import Lesson, Section
from course.search import highlight, search_terms, section_search
from course.search_views import QUERY_TOO_SHORT

pytestmark = pytest.mark.django_db


def _lessons(hits) -> list[str]:
    return [hit.section.lesson.slug for hit in hits]


def test_healthcheck_is_found_first_in_the_practical_exercise_and_also_in_best_practices(lecture):
    hits = section_search(query="HEALTHCHECK")
    assert _lessons(hits)[0] == "practical-exercise"
    assert "best-practices" in _lessons(hits)
    assert "<mark>HEALTHCHECK</mark>" in hits[0].snippet_html


def test_pg_isready_is_found_in_the_practical_exercise(lecture):
    hits = section_search(query="pg_isready")
    assert _lessons(hits) == ["practical-exercise"]
    assert "<mark>pg_isready</mark>" in hits[0].snippet_html
    assert hits[0].url.startswith("/courses/docker-in-production/practical-exercise/#")


def test_every_word_must_match_in_any_case(lecture):
    both = section_search(query="read-only FILESYSTEM")
    assert both and all("read-only" in h.section.body.lower() for h in both)
    assert section_search(query="healthcheck zzz-no-such-word") == []


def test_unpublished_sections_and_lessons_are_not_found(lecture):
    Section.objects.filter(body__icontains="pg_isready").update(published=False)
    assert section_search(query="pg_isready") == []
    Section.objects.update(published=True)
    Lesson.objects.filter(slug="practical-exercise").update(published=False)
    assert section_search(query="pg_isready") == []


def test_matches_are_escaped_before_they_are_marked():
    assert highlight("<b>HEALTHCHECK</b> & co", ["healthcheck"]) == (
        "&lt;b&gt;<mark>HEALTHCHECK</mark>&lt;/b&gt; &amp; co"
    )


def test_one_letter_words_are_ignored_and_queries_are_capped():
    assert search_terms("a HEALTHCHECK b") == ["HEALTHCHECK"]
    assert len(search_terms(" ".join(f"w{i}" for i in range(50)))) <= 6


def test_search_page_highlights_matches_and_links_to_the_section(client, lecture):
    page = client.get("/search/", {"q": "pg_isready"}).content.decode()
    assert "<mark>pg_isready</mark>" in page
    assert 'href="/courses/docker-in-production/practical-exercise/#' in page
    assert "1 section match" in page


def test_search_page_explains_short_and_empty_queries(client, lecture):
    assert QUERY_TOO_SHORT in client.get("/search/", {"q": "x"}).content.decode()
    assert (
        "Nothing in the course matches"
        in client.get("/search/", {"q": "qwertyuiop"}).content.decode()
    )
    assert client.get("/search/").status_code == 200


def test_search_is_one_query_whatever_the_number_of_hits(
    client, lecture, django_assert_max_num_queries
):
    with django_assert_max_num_queries(3):  # session + the search (no per-hit queries)
        client.get("/search/", {"q": "docker"})


def test_every_page_has_the_search_box(client, lecture):
    page = client.get("/courses/docker-in-production/security/").content.decode()
    assert 'role="search"' in page and 'action="/search/"' in page
