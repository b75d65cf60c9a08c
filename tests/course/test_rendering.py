"""The Markdown pipeline: diagrams, highlighting, sanitising, caching on save."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from course.models import Section
from course.rendering import render_markdown
from course.services import parse_lesson

LESSONS = sorted((settings.COURSE_CONTENT_DIR / "docker-in-production" / "lessons").glob("*.md"))


def _all_section_bodies() -> list[str]:
    return [s.body for path in LESSONS for s in parse_lesson(path).sections]


def test_every_one_of_the_ten_lecture_diagrams_becomes_a_mermaid_block():
    rendered = [render_markdown(body) for body in _all_section_bodies()]
    assert sum(r.diagrams for r in rendered) == 10
    for r in rendered:
        for block in re.findall(r'<pre class="mermaid">(.*?)</pre>', r.html, re.S):
            first = block.strip().splitlines()[0]
            assert first.startswith(("graph", "flowchart")), first
            assert len(block.strip().splitlines()) > 3, "diagram still flattened onto one line"


@pytest.mark.parametrize("language", ["dockerfile", "yaml", "javascript", "bash"])
def test_each_fenced_language_is_highlighted_by_pygments(language):
    html = render_markdown(f"```{language}\nFROM x\nkey: value\n```\n").html
    assert f'class="language-{language} highlight"' in html
    assert "<span class=" in html  # Pygments produced tokens


def test_every_lecture_code_block_is_fenced_with_a_language_and_highlighted():
    bodies = "\n".join(_all_section_bodies())
    fences = re.findall(r"^```(\S*)", bodies, re.M)
    openers = fences[::2]
    assert openers and all(openers), "a code fence without a language"
    assert {"dockerfile", "yaml", "javascript", "bash", "mermaid"} <= set(openers)


def test_diagram_source_stays_readable_without_javascript():
    html = render_markdown('```mermaid\ngraph TD\n  A[Web] --> B["DB & cache"]\n```\n').html
    assert (
        "A[Web] --&gt; B[&quot;DB &amp; cache&quot;]" in html
        or 'A[Web] --&gt; B["DB &amp; cache"]' in html
    )


@pytest.mark.parametrize(
    "payload, forbidden",
    [
        ("<script>alert('x')</script>", "<script"),
        ('<img src="x.png" onerror="alert(1)">', "onerror"),
        ('<a href="javascript:alert(1)">go</a>', "javascript:"),
        ('<div onclick="steal()">hi</div>', "onclick"),
        ('<iframe src="https://evil.example"></iframe>', "<iframe"),
        ("[click](javascript:alert(1))", "javascript:"),
    ],
)
def test_instructor_html_is_sanitised(payload, forbidden):
    assert forbidden not in render_markdown(payload).html


def test_heading_anchors_are_prefixed_per_section():
    html = render_markdown("### Pros\n\ntext", anchor_prefix="single-host").html
    assert 'id="single-host-pros"' in html
    assert 'href="#single-host-pros"' in html


@pytest.mark.django_db
def test_rendering_is_cached_on_save_not_per_request(
    tiny_course, django_assert_num_queries, client, monkeypatch
):
    section = Section.objects.get(lesson__slug="l1", slug="s1")
    section.body = "Now with **bold**"
    section.save()
    assert "<strong>bold</strong>" in Section.objects.get(pk=section.pk).body_html

    calls = []
    monkeypatch.setattr("course.models.render_markdown", lambda *a, **k: calls.append(a))
    response = client.get("/courses/c/l1/")
    assert response.status_code == 200
    assert "<strong>bold</strong>" in response.content.decode()
    assert calls == []


def test_every_code_block_is_labelled_with_its_language():
    html = render_markdown("```dockerfile\nFROM x\n```\n\n```yaml\na: 1\n```\n").html
    assert '<span class="filename">Dockerfile</span>' in html
    assert '<span class="filename">YAML</span>' in html


def test_line_numbers_on_request_survive_sanitising():
    html = render_markdown('```yaml linenums="1"\na: 1\nb: 2\n```\n').html
    assert 'data-linenos="1 "' in html and 'data-linenos="2 "' in html
    assert "data-linenos" not in render_markdown("```yaml\na: 1\n```\n").html


def test_a_fence_title_overrides_the_language_label():
    html = render_markdown('```yaml title="docker-compose.prod.yml"\na: 1\n```\n').html
    assert '<span class="filename">docker-compose.prod.yml</span>' in html
