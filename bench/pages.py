"""Pages under load (wrk against gunicorn), their static twins, a class's "go" moment, and SQL
queries per page.

Each page is compared with its own rendered HTML served as a static file by the same stack
(gunicorn -> Django's WSGI app -> WhiteNoise), written into the bench's STATIC_ROOT before
gunicorn starts (WhiteNoise indexes it at start-up). Learner pages carry a real session
cookie. wrk runs one thread (the machine has two cores and gunicorn needs them), after a
short warm-up run per URL.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .report import Report, median
from .stack import Stack, StackError

LESSON = "/courses/docker-in-production/architecture-patterns/"
EXERCISE = "/exercises/docker-production/"
STATIC_DIR = "bench"
CONNECTIONS = 50
# Issue 13's targets, per page: (p99 in ms, throughput as a fraction of the static twin's).
# The other pages are measured and reported, without a target.
TARGETS = {
    "page_lesson_anon": (50.0, 0.5),
    "page_exercise_learner": (100.0, 0.0),
}

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad: int  # non-2xx/3xx responses and socket errors


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise StackError(f"unreadable wrk latency {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> Load:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    requests = re.search(r"(\d+) requests in", output)
    if not (rps and p50 and p99 and requests):
        raise StackError(f"unreadable wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    # a read error is how wrk counts a server closing a finished connection (no keep-alive)
    failures = int(errors.group(1)) + int(errors.group(3)) + int(errors.group(4)) if errors else 0
    return Load(
        float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), int(requests.group(1)),
        (int(bad.group(1)) if bad else 0) + failures,
    )  # fmt: skip


def wrk(url: str, *, seconds: float, cookie: str = "") -> Load:
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency",
            "--timeout", "10s", url]  # fmt: skip
    if cookie:
        argv[1:1] = ["-H", f"Cookie: {cookie}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise StackError(f"wrk failed: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


class Site:
    """In-process access to the bench's site: the learner, rendered pages, query counts."""

    def __init__(self) -> None:
        from django.test import Client

        self.anonymous = Client(HTTP_HOST="127.0.0.1")
        self.signed_in = Client(HTTP_HOST="127.0.0.1")
        self.cookie = ""

    def sign_in(self) -> None:
        """The learner's session (in the cache, Redis: call once Redis is up)."""
        from django.contrib.auth import get_user_model

        self.learner, _ = get_user_model().objects.get_or_create(username="bench-learner")
        self.signed_in.force_login(self.learner)
        self.cookie = f"sessionid={self.signed_in.cookies['sessionid'].value}"

    def class_cookies(self, count: int) -> list[str]:
        """Session cookies of `count` learners of their own (a class), each with an attempt."""
        from django.contrib.auth import get_user_model
        from django.test import Client

        cookies = []
        for index in range(count):
            learner, _ = get_user_model().objects.get_or_create(username=f"bench-class-{index}")
            client = Client(HTTP_HOST="127.0.0.1")
            client.force_login(learner)
            cookies.append(f"sessionid={client.cookies['sessionid'].value}")
        return cookies

    def mark_progress(self, lesson_path: str, count: int = 2) -> None:
        from course.models import Section
        from course.services import section_set_complete

        slug = lesson_path.rstrip("/").rsplit("/", 1)[-1]
        for section in Section.objects.filter(lesson__slug=slug).order_by("order")[:count]:
            section_set_complete(user=self.learner, section=section, completed=True)

    def html(self, path: str, *, signed_in: bool = False) -> bytes:
        response = (self.signed_in if signed_in else self.anonymous).get(path)
        if response.status_code != 200:
            raise StackError(f"GET {path} answered {response.status_code}")
        return response.content

    def wsgi_ms(self, path: str, *, signed_in: bool = False, runs: int = 200) -> float:
        """Median time to serve `path` through Drydock's WSGI app in this process: the CPU
        cost of one request without the server, the network or the load generator."""
        import io
        import time

        from django.test import RequestFactory

        from drydock.wsgi import application  # built now: WhiteNoise indexes the twins

        environ = RequestFactory(HTTP_HOST="127.0.0.1")._base_environ(
            PATH_INFO=path,
            REQUEST_METHOD="GET",
            **({"HTTP_COOKIE": self.cookie} if signed_in else {}),
        )

        def serve() -> None:
            status: list[str] = []
            body = application(
                {**environ, "wsgi.input": io.BytesIO(b"")}, lambda s, h, e=None: status.append(s)
            )
            b"".join(body)
            if not status[0].startswith("200"):
                raise StackError(f"GET {path} answered {status[0]}")

        times = []
        for index in range(runs + 10):
            started = time.perf_counter()
            serve()
            if index >= 10:
                times.append(time.perf_counter() - started)
        return median(times) * 1000

    def queries(self, path: str, *, signed_in: bool) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.html(path, signed_in=signed_in)  # warm: first-request caches are not the steady state
        with CaptureQueriesContext(connection) as captured:
            self.html(path, signed_in=signed_in)
        return len(captured)

    def synthetic_lesson(self, sections: int) -> str:
        """A lesson with `sections` sections in a module of its own (added after the load runs)."""
        from course.models import Course, Lesson, Module, Section

        course = Course.objects.get(slug="docker-in-production")
        module, _ = Module.objects.get_or_create(
            course=course, slug="bench", defaults={"title": "Bench", "order": 999}
        )
        lesson, created = Lesson.objects.get_or_create(
            module=module,
            slug=f"bench-{sections}",
            defaults={"title": f"{sections} sections", "order": sections},
        )
        if created:
            for index in range(sections):
                Section.objects.create(
                    lesson=lesson, slug=f"s{index}", title=f"Section {index}", order=index,
                    body=f"Text {index}.\n\n```bash\necho {index}\n```\n",
                )  # fmt: skip
        return f"/courses/docker-in-production/bench-{sections}/"


def prepare(stack: Stack, site: Site) -> dict[str, str]:
    """Write the static twins (before gunicorn starts); returns page path -> static path.

    Starts the private Redis first: pages and sessions are cached there (the cache defaults to
    the broker's Redis, another database)."""
    if not stack.is_running("redis"):
        stack.start_redis()
    site.sign_in()
    site.mark_progress(LESSON)
    root = Path(stack.env["DJANGO_STATIC_ROOT"]) / STATIC_DIR
    root.mkdir(parents=True, exist_ok=True)
    twins = {}
    for name, path in (("lesson", LESSON), ("exercise", EXERCISE)):
        (root / f"{name}.html").write_bytes(site.html(path))
        twins[path] = f"/static/{STATIC_DIR}/{name}.html"
    return twins


def run(report: Report, stack: Stack, site: Site, twins: dict[str, str], *, seconds: float,
        warmup_s: float) -> dict[str, float]:  # fmt: skip
    """Load figures; returns the web workers' peak RSS for the memory section."""
    report.section(f"pages: gunicorn (2 workers x 4 threads), wrk {CONNECTIONS} connections, "
                   f"{seconds:.0f} s per URL after {warmup_s:.0f} s warm-up")  # fmt: skip
    base = stack.start_web()
    worst_p99, worst_ratio = 0.0, float("inf")
    pages = [("lesson", LESSON), ("exercise", EXERCISE)]
    for name, path in pages:
        wrk(base + twins[path], seconds=warmup_s)
        static = wrk(base + twins[path], seconds=seconds)
        _figures(report, f"static_{name}", static)
        for who, cookie in (("anon", ""), ("learner", site.cookie)):
            wrk(base + path, seconds=warmup_s, cookie=cookie)
            load = wrk(base + path, seconds=seconds, cookie=cookie)
            label = f"page_{name}_{who}"
            _figures(report, label, load)
            rel = report.figure(
                f"{label}_vs_static", load.rps / static.rps if static.rps else 0, "x"
            )
            if label in TARGETS:
                p99_ms, vs_static = TARGETS[label]
                report.target(label, load.p99_ms < p99_ms and rel >= vs_static,
                              f"p99 < {p99_ms:.0f} ms"
                              + (f" and >= {vs_static}x static" if vs_static else ""))  # fmt: skip
                worst_p99 = max(worst_p99, load.p99_ms)
                if vs_static:
                    worst_ratio = min(worst_ratio, rel)
    report.figure("page_p99_ms", worst_p99, "ms", "the worst of the pages with a target")
    report.figure("page_vs_static", worst_ratio, "x", "the worst of the pages with a ratio target")
    class_moment(report, base, site)
    from .memory import peak_rss_mib

    memory = {"web_worker_peak_rss_mib": max(peak_rss_mib(p) for p in stack.web_workers())}
    stack.stop("web")
    return memory


def class_moment(report: Report, base: str, site: Site, *, rounds: int = 5) -> None:
    """The moment issue 13 describes: the instructor says "go" and a class of CONNECTIONS
    learners, each signed in as themselves, open the exercise page at once (a new connection
    each, as a browser does). Every round is one such click per learner; rounds are apart."""
    import threading
    import time
    from urllib.parse import urlsplit

    cookies = site.class_cookies(CONNECTIONS)
    where = urlsplit(base)
    latencies: list[float] = []
    failures = 0
    for _ in range(rounds):
        go = threading.Barrier(len(cookies))
        results: list[float | None] = []
        threads = [
            threading.Thread(target=_click, args=(where, cookie, go, results)) for cookie in cookies
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        latencies += [r * 1000 for r in results if r is not None]
        failures += sum(r is None for r in results)
        time.sleep(1.0)
    latencies.sort()
    label = f"{len(cookies)} learners x {rounds} rounds" + (
        f", {failures} failed" if failures else ""
    )
    report.figure("class_go_p50_ms", latencies[len(latencies) // 2], "ms", label)
    report.figure("class_go_p99_ms", latencies[int(len(latencies) * 0.99) - 1], "ms")
    report.figure("class_go_max_ms", latencies[-1], "ms", "the last learner's page")


def _click(where: Any, cookie: str, go: Any, results: list[float | None]) -> None:
    """One learner's click: the whole page, on a new connection; None when it failed."""
    import http.client
    import time

    go.wait()
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        connection.request("GET", EXERCISE, headers={"Cookie": cookie})
        response = connection.getresponse()
        response.read()
        ok = response.status == 200
        connection.close()
    except OSError:
        ok = False
    results.append(time.perf_counter() - started if ok else None)


def _figures(report: Report, label: str, load: Load) -> None:
    note = f"{load.requests} requests" + (f", {load.bad} failed" if load.bad else "")
    report.figure(f"{label}_rps", load.rps, "req/s", note)
    report.figure(f"{label}_p50_ms", load.p50_ms, "ms")
    report.figure(f"{label}_p99_ms", load.p99_ms, "ms")


def request_costs(report: Report, site: Site, twins: dict[str, str]) -> None:
    """In-process cost of one request (no server, no network, no load generator): robust to a
    noisy machine, it says how far a page is from its static twin before any queueing."""
    report.section("cost of one request through the WSGI app, in process (median of 200)")
    for name, path in (("lesson", LESSON), ("exercise", EXERCISE)):
        static = report.figure(f"static_{name}_wsgi_ms", site.wsgi_ms(twins[path]), "ms")
        for who in ("anon", "learner"):
            cost = site.wsgi_ms(path, signed_in=who == "learner")
            report.figure(
                f"page_{name}_{who}_wsgi_ms", cost, "ms", f"{cost / static:.0f}x its static twin"
            )


def query_counts(report: Report, site: Site) -> None:
    report.section("SQL queries per page (Django test client, after one warm request)")
    for name, path in (("lesson", LESSON), ("exercise", EXERCISE)):
        for who in ("anon", "learner"):
            report.figure(
                f"sql_{name}_{who}", site.queries(path, signed_in=who == "learner"), "queries"
            )
    small, large = 5, 50
    counts = {}
    for sections in (small, large):
        path = site.synthetic_lesson(sections)
        for who in ("anon", "learner"):
            counts[(sections, who)] = site.queries(path, signed_in=who == "learner")
            report.figure(
                f"sql_lesson_{sections}_sections_{who}", counts[(sections, who)], "queries"
            )
    constant = all(counts[(small, w)] == counts[(large, w)] for w in ("anon", "learner"))
    report.target("sql_constant", constant, f"same count with {small} and {large} sections")
