"""Reading the course in Chromium, on a desktop (1366×900) and a phone (390×844), light and dark.

Each check is what a reader would notice: a diagram label too small to read, a page that
scrolls sideways, a console error, code that is hard to read against its background, a search
that does not find the word, an admin preview that stays blank.
"""

from __future__ import annotations

import itertools
import re

import pytest

from course.models import Lesson

from .conftest import sign_up

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
MIN_LABEL_PX = 11
MIN_CONTRAST = 4.5
DIAGRAM_LESSONS = [
    "introduction", "architecture-patterns", "best-practices", "production-images",
    "networking-and-persistence", "real-world-example", "security",
]  # fmt: skip

# Smallest rendered label of every diagram on the page, in CSS px: the label's font size times
# the scale from SVG user units to the screen (getScreenCTM), whatever CSS did to the SVG.
SMALLEST_LABELS = """() => [...document.querySelectorAll('pre.mermaid svg')].map(svg => {
  let smallest = Infinity;
  svg.querySelectorAll('text, foreignObject').forEach(el => {
    const ctm = el.getScreenCTM();
    if (!ctm) return;
    const parts = el.tagName === 'foreignObject' ? [...el.querySelectorAll('span, div, p')] : [el];
    parts.filter(p => p.textContent.trim()).forEach(p => {
      smallest = Math.min(smallest, parseFloat(getComputedStyle(p).fontSize) * ctm.a);
    });
  });
  const labelledby = svg.getAttribute('aria-labelledby');
  const name = svg.getAttribute('aria-label') ||
    (labelledby ? labelledby.split(' ').map(id => (document.getElementById(id) || {}).textContent || '').join(' ').trim() : '');
  return {smallest, name};
})"""

# Every highlighted token's contrast against the code block's background, WCAG formula.
CODE_CONTRAST = """() => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const out = [];
  document.querySelectorAll('.highlight').forEach(block => {
    const bg = rgb(getComputedStyle(block).backgroundColor);
    block.querySelectorAll('pre code span, pre code').forEach(span => {
      const own = [...span.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('');
      if (!own.trim()) return;
      const spanBg = rgb(getComputedStyle(span).backgroundColor);
      const back = spanBg.length === 4 && spanBg[3] > 0 ? spanBg : bg;
      out.push({cls: span.className || 'code', text: own.trim().slice(0, 20), ratio: ratio(rgb(getComputedStyle(span).color), back)});
    });
  });
  return out;
}"""

HEADINGS_AND_DESCRIPTIONS = """() => ({
  headings: [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter(h => !h.closest('dialog')).map(h => +h.tagName[1]),
  missing: [...document.querySelectorAll('[aria-describedby]')].flatMap(el =>
    el.getAttribute('aria-describedby').split(/\\s+/).filter(id => id && !document.getElementById(id))),
})"""


class Reader:
    """One browser context: a viewport and a colour scheme, collecting what went wrong."""

    def __init__(self, browser, viewport: dict, scheme: str):
        self.context = browser.new_context(viewport=viewport, color_scheme=scheme)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.problems: list[str] = []
        self.expected_404: set[str] = set()  # pages opened on purpose to see the 404 page
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("console", self._console)
        self.page.on(
            "response",
            lambda r: (
                r.status >= 400
                and r.request.resource_type != "document"
                and self.problems.append(f"{r.status} {r.url}")
            ),
        )

    def _console(self, message) -> None:
        if message.type != "error":
            return
        if message.location.get("url") in self.expected_404 and "404" in message.text:
            return
        self.problems.append(f"console: {message.text} ({message.location.get('url')})")

    def open(self, url: str, *, expect_404: bool = False) -> None:
        if expect_404:
            self.expected_404.add(url)
        self.page.goto(url)
        self.page.wait_for_load_state()
        self.page.wait_for_function(
            "!document.querySelector('pre.mermaid') || (window.drydockMermaid && window.drydockMermaid.done)"
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture(params=["light", "dark"])
def scheme(request) -> str:
    return request.param


@pytest.fixture(params=list(VIEWPORTS))
def viewport_name(request) -> str:
    return request.param


def _pages(base: str) -> dict[str, str]:
    lessons = Lesson.objects.filter(module__course__slug="docker-in-production").order_by(
        "module__order", "order"
    )
    pages = {"course": f"{base}/courses/docker-in-production/"}
    pages |= {f"lesson-{lesson.slug}": base + lesson.get_absolute_url() for lesson in lessons}
    pages |= {
        "search": f"{base}/search/?q=HEALTHCHECK",
        "login": f"{base}/accounts/login/",
        "signup": f"{base}/accounts/signup/",
        "not-found": f"{base}/courses/docker-in-production/no-such-lesson/",
    }
    return pages


SCREENSHOTS = {
    "course",
    "lesson-security",
    "lesson-practical-exercise",
    "search",
    "login",
    "not-found",
}


def test_every_page_reads_cleanly(live_server, lecture, browser, artifacts, viewport_name, scheme):
    """No sideways scroll on a phone, no console error, headings in order, descriptions that exist,
    code tokens at 4.5:1 — on every reading page, in this viewport and theme."""
    reader = Reader(browser, VIEWPORTS[viewport_name], scheme)
    failures: list[str] = []
    try:
        for name, url in _pages(live_server.url).items():
            reader.open(url, expect_404=name == "not-found")
            page = reader.page
            if viewport_name == "phone":
                width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                if width[0] > width[1]:
                    failures.append(
                        f"{name}: scrolls sideways ({width[0]} px wide in {width[1]} px)"
                    )
            found = page.evaluate(HEADINGS_AND_DESCRIPTIONS)
            if not found["headings"] or found["headings"][0] != 1:
                failures.append(f"{name}: first heading is h{found['headings'][:1]}, not h1")
            skips = [(a, b) for a, b in itertools.pairwise(found["headings"]) if b > a + 1]
            if skips:
                failures.append(f"{name}: heading levels skip {skips}")
            if found["missing"]:
                failures.append(
                    f"{name}: aria-describedby points at missing ids {found['missing']}"
                )
            for token in page.evaluate(CODE_CONTRAST):
                if token["ratio"] < MIN_CONTRAST:
                    failures.append(
                        f"{name}: {token['cls']} {token['text']!r} contrast {token['ratio']:.2f}"
                    )
            if name in SCREENSHOTS:
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(
                    path=str(artifacts / f"reading-{name}-{viewport_name}-{scheme}.png")
                )
                detail = page.locator(".diagram, .highlight").first
                if detail.count():
                    detail.scroll_into_view_if_needed()
                    page.screenshot(
                        path=str(artifacts / f"reading-{name}-{viewport_name}-{scheme}-detail.png")
                    )
        failures += reader.problems
    finally:
        reader.close()
    assert failures == []


def test_signup_and_login_errors_keep_their_descriptions(live_server, db, browser):
    reader = Reader(browser, PHONE, "light")
    try:
        for path in ("/accounts/signup/", "/accounts/login/"):
            reader.open(live_server.url + path)
            reader.page.fill("#id_username", "x")
            reader.page.fill("#id_password1" if "signup" in path else "#id_password", "short")
            reader.page.click("form.stacked button[type=submit]")
            reader.page.wait_for_load_state()
            assert reader.page.evaluate(HEADINGS_AND_DESCRIPTIONS)["missing"] == [], path
            assert reader.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        reader.close()


@pytest.mark.parametrize("lesson", DIAGRAM_LESSONS)
def test_diagrams_are_legible_named_and_open_full_screen(
    live_server, lecture, browser, scheme, lesson
):
    reader = Reader(browser, DESKTOP, scheme)
    try:
        reader.open(f"{live_server.url}/courses/docker-in-production/{lesson}/")
        page = reader.page
        diagrams = page.evaluate(SMALLEST_LABELS)
        assert diagrams, "no diagram rendered"
        for index, diagram in enumerate(diagrams):
            assert diagram["smallest"] >= MIN_LABEL_PX, (
                f"diagram {index}: {diagram['smallest']:.1f} px"
            )
            assert diagram["name"].startswith("Diagram"), diagram
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

        page.locator(".diagram-bar button").first.click()
        dialog = page.locator("dialog.diagram-dialog[open]")
        dialog.wait_for()
        assert dialog.locator("svg").count() == 1
        box = dialog.locator("svg").bounding_box()
        assert box["width"] > 200 and box["height"] > 100
        assert len(page.evaluate(SMALLEST_LABELS)) == len(diagrams) - 1  # moved into the dialog
        dialog.locator("button[aria-label='Zoom in']").click()
        assert dialog.locator("svg").bounding_box()["width"] > box["width"]
        page.keyboard.press("Escape")
        # The "close" event (which moves the diagram back) fires just after [open] goes.
        page.wait_for_function(
            f"document.querySelectorAll('pre.mermaid svg').length === {len(diagrams)}"
        )
        assert page.evaluate("document.querySelector('dialog.diagram-dialog[open]')") is None
        assert reader.problems == []
    finally:
        reader.close()


def test_diagrams_stay_legible_on_a_phone_by_scrolling_sideways(live_server, lecture, browser):
    reader = Reader(browser, PHONE, "dark")
    try:
        reader.open(f"{live_server.url}/courses/docker-in-production/security/")
        page = reader.page
        assert page.evaluate(SMALLEST_LABELS)[0]["smallest"] >= MIN_LABEL_PX
        scroller = page.evaluate(
            "(() => { const p = document.querySelector('pre.mermaid'); return [p.scrollWidth, p.clientWidth, p.scrollLeft]; })()"
        )
        assert scroller[0] > scroller[1] and scroller[2] > 0  # scrolls, starting from the middle
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.locator("pre.mermaid").first.click()  # click-to-zoom
        page.locator("dialog.diagram-dialog[open]").wait_for()
        assert reader.problems == []
    finally:
        reader.close()


def test_search_finds_healthcheck_and_pg_isready_in_the_right_lessons(
    live_server, lecture, browser
):
    reader = Reader(browser, PHONE, "light")
    page = reader.page
    try:
        reader.open(f"{live_server.url}/courses/docker-in-production/introduction/")
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "site-search-q"
        page.keyboard.type("pg_isready")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/search/\?q=pg_isready"))
        results = page.locator(".search-results > li")
        assert results.count() == 1
        assert results.first.locator("mark").first.inner_text() == "pg_isready"
        assert "/practical-exercise/#" in results.first.locator("h2 a").get_attribute("href")

        reader.open(f"{live_server.url}/search/?q=HEALTHCHECK")
        hrefs = [a.get_attribute("href") for a in page.locator(".search-results h2 a").all()]
        assert "/practical-exercise/#" in hrefs[0]
        assert any("/best-practices/#" in href for href in hrefs)
        page.locator(".search-results h2 a").first.click()
        page.wait_for_url(re.compile(r"/practical-exercise/#"))
        assert reader.problems == []
    finally:
        reader.close()


def test_theme_toggle_cycles_and_persists(live_server, lecture, browser):
    reader = Reader(browser, DESKTOP, "light")
    page = reader.page
    try:
        reader.open(f"{live_server.url}/courses/docker-in-production/security/")
        toggle = page.locator("#theme-toggle")
        assert "Auto" in toggle.inner_text()
        light_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        toggle.click()  # auto → light
        toggle.click()  # light → dark
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        page.wait_for_function("window.drydockMermaid.done")
        dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert dark_bg != light_bg
        reader.open(f"{live_server.url}/courses/docker-in-production/introduction/")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == dark_bg
        assert "Dark" in page.locator("#theme-toggle").inner_text()
        page.locator("#theme-toggle").click()  # dark → auto: follows the (light) system again
        assert page.evaluate("document.documentElement.dataset.theme") is None
        assert reader.problems == []
    finally:
        reader.close()


def test_the_toc_follows_the_scroll(live_server, lecture, browser):
    reader = Reader(browser, DESKTOP, "light")
    page = reader.page
    try:
        reader.open(f"{live_server.url}/courses/docker-in-production/architecture-patterns/")
        current = "nav.toc a[aria-current='location']"
        first = page.locator(current).get_attribute("href")
        page.evaluate("document.querySelectorAll('.lesson-section')[1].scrollIntoView()")
        page.wait_for_function(
            f"document.querySelector(\"{current}\").getAttribute('href') !== '{first}'"
        )
        second = page.evaluate("'#' + document.querySelectorAll('.lesson-section')[1].id")
        assert page.locator(current).get_attribute("href") == second
    finally:
        reader.close()


def test_copy_button_never_covers_code_on_a_phone(live_server, lecture, browser):
    reader = Reader(browser, PHONE, "light")
    try:
        reader.open(f"{live_server.url}/courses/docker-in-production/practical-exercise/")
        overlaps = reader.page.evaluate(
            """() => [...document.querySelectorAll('.highlight')].filter(block => {
                 const b = block.querySelector('.copy-button').getBoundingClientRect();
                 const c = block.querySelector('pre code').getBoundingClientRect();
                 const line = parseFloat(getComputedStyle(block.querySelector('pre')).lineHeight);
                 return b.bottom > c.top + 1 && b.top < c.top + line;  // over the first line
               }).length"""
        )
        assert overlaps == 0
        labels = reader.page.locator(".highlight .filename").all_inner_texts()
        assert "Dockerfile" in labels and "YAML" in labels
    finally:
        reader.close()


def test_mermaid_is_fetched_only_on_pages_with_a_diagram(live_server, lecture, browser):
    reader = Reader(browser, DESKTOP, "light")
    fetched: list[str] = []
    reader.page.on("request", lambda r: "mermaid" in r.url and fetched.append(r.url))
    try:
        reader.open(f"{live_server.url}/courses/docker-in-production/conclusion/")
        reader.open(f"{live_server.url}/courses/docker-in-production/practical-exercise/")
        assert fetched == []
        reader.open(f"{live_server.url}/courses/docker-in-production/production-images/")
        assert len(fetched) == 1
    finally:
        reader.close()


def test_completed_section_gets_its_tick_in_the_toc_without_reload(live_server, lecture, browser):
    reader = Reader(browser, PHONE, "light")
    page = reader.page
    try:
        path = "/courses/docker-in-production/security/"
        sign_up(page, live_server.url, "ticker", next_path=path)
        reader.open(live_server.url + path)
        assert page.locator("#toc-security-layers .tick").count() == 0
        page.locator("#security-layers button.complete").click()
        page.wait_for_selector("#toc-security-layers .tick")
        assert page.url.endswith(path)
        page.locator("#security-layers button.complete.done").click()
        page.wait_for_selector("#toc-security-layers .tick", state="detached")
        assert reader.problems == []
    finally:
        reader.close()


def test_admin_preview_renders_a_diagram_beside_the_markdown(
    live_server, lecture, browser, staff, artifacts
):
    from course.models import Section

    section = Section.objects.get(slug="security-layers")
    for scheme in ("light", "dark"):
        reader = Reader(browser, DESKTOP, scheme)
        page = reader.page
        try:
            page.goto(
                f"{live_server.url}/admin/login/?next=/admin/course/section/{section.pk}/change/"
            )
            page.fill("#id_username", "teacher")
            page.fill("#id_password", "pw-teacher-123")
            page.click("input[type=submit]")
            page.wait_for_selector("#markdown-preview pre.mermaid svg")
            assert page.locator("#markdown-preview pre.mermaid svg[aria-label]").count() == 1
            textarea = page.locator("textarea#id_body").bounding_box()
            preview = page.locator("#markdown-preview").bounding_box()
            assert textarea["x"] + textarea["width"] <= preview["x"], (
                "the preview covers the textarea"
            )
            page.screenshot(path=str(artifacts / f"reading-admin-section-desktop-{scheme}.png"))
            page.set_viewport_size(
                PHONE
            )  # stacked: the preview below the textarea, inside the screen
            page.wait_for_timeout(200)
            textarea = page.locator("textarea#id_body").bounding_box()
            preview = page.locator("#markdown-preview").bounding_box()
            assert textarea["y"] + textarea["height"] <= preview["y"]
            assert preview["x"] + preview["width"] <= PHONE["width"]
            page.locator("#markdown-preview").scroll_into_view_if_needed()
            page.screenshot(path=str(artifacts / f"reading-admin-section-phone-{scheme}.png"))
            page.set_viewport_size(DESKTOP)

            page.locator("textarea#id_body").fill(
                "Intro\n\n```mermaid\ngraph LR\n  X[Edited] --> Y[Preview]\n```\n"
            )
            page.wait_for_function(
                "[...document.querySelectorAll('#markdown-preview svg')].some(s => s.textContent.includes('Edited'))"
            )
            assert reader.problems == []
        finally:
            reader.close()


def test_course_home_leads_to_the_exercise_and_the_best_result(
    live_server, lecture, browser, artifacts
):
    from django.contrib.auth import get_user_model

    from exercises.models import Exercise, Submission

    exercise = Exercise.objects.create(
        slug="docker-production",
        title="Converting Development Docker to Production",
        instructions="Go.",
    )
    for scheme in ("light", "dark"):
        reader = Reader(browser, PHONE, scheme)
        page = reader.page
        try:
            username = f"best-{scheme}"
            sign_up(page, live_server.url, username)
            learner = get_user_model().objects.get(username=username)
            Submission.objects.create(
                learner=learner, exercise=exercise, attempt=1, status="failed", score=57
            )
            best = Submission.objects.create(
                learner=learner, exercise=exercise, attempt=2, status="passed", score=100
            )
            reader.open(f"{live_server.url}/courses/docker-in-production/")
            card = page.locator(".exercise-card")
            assert card.locator("a[href='/exercises/docker-production/']").count() >= 1
            assert (
                card.locator(f"a[href='{best.get_absolute_url()}']")
                .inner_text()
                .startswith("Passed, 100/100")
            )
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.screenshot(path=str(artifacts / f"reading-course-signed-in-phone-{scheme}.png"))
            assert reader.problems == []
        finally:
            reader.close()
