"""Resident memory: read from Linux's /proc (no extra package needed), and the bench part
that grades 200 times through a web worker and a grading worker to see whether either grows.

`VmHWM` is the kernel's own high-water mark of a process's resident set, so a peak is read
once after the load instead of sampled during it (sampling would miss short spikes).
"""

from __future__ import annotations

import http.client
import secrets
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .stack import StackError


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size (VmHWM) in MiB; 0 if it is gone."""
    return _status_kib(pid, "VmHWM") / 1024


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS") / 1024


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- the memory part: 200 gradings through the real web worker and grading worker ----------

GROWTH_TARGET_MIB = 8.0  # resident growth from the warm sample to the last one, per process
SAMPLE_EIGHTHS = (1, 2, 4, 6, 8)  # sampled after 1/8, 2/8 ... of the gradings (25, 50 ... of 200)


def run(report, stack, *, gradings: int = 200) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Submit `gradings` times through gunicorn (1 worker: the signed-in form POST, which
    grades statically in the request) to a Celery worker (-c 1) that grades them; both in
    static mode (`DRYDOCK_GRADING_STATIC_ONLY`: 200 full gradings take too long for a bench
    run; the full gradings' peak is the throughput part's). Resident memory of both is sampled along the way; returns their peaks (MiB)."""
    from .throughput import wait_finished

    report.section(f"memory: {gradings} static gradings through a web worker and a grading worker")
    part_env = {
        "DRYDOCK_GRADING_STATIC_ONLY": "1",
        # one pool process for all of them (production recycles it after 100 tasks)
        "DRYDOCK_WORKER_MAX_TASKS_PER_CHILD": str(gradings + 100),
    }
    saved = {key: stack.env.get(key) for key in part_env}
    stack.env.update(part_env)
    try:
        url = stack.start_web(workers=1, threads=4)
        stack.start_worker(1)
    finally:
        for key, value in saved.items():
            if value is None:
                del stack.env[key]
            else:
                stack.env[key] = value
    try:
        web, worker = stack.web_workers()[0], stack.worker_children()[0]
        poster = _Poster(url)
        ids: list[int] = []
        samples: dict[str, list[tuple[int, float]]] = {"web": [], "worker": []}
        at = sorted({max(1, gradings * k // 8) for k in SAMPLE_EIGHTHS})
        for index in range(1, gradings + 1):
            ids.append(poster.submit())
            if index in at:
                wait_finished(ids, 60 + 2 * len(ids), stack.note_jobs)  # the worker caught up
                samples["web"].append((index, rss_mib(web)))
                samples["worker"].append((index, rss_mib(worker)))
        peaks = {
            "web_peak_rss_mib": peak_rss_mib(web),
            "worker_static_peak_rss_mib": peak_rss_mib(worker),
        }
    finally:
        stack.stop("worker")
        stack.stop("web")
    for name, points in samples.items():
        (first_n, first), (last_n, last) = points[0], points[-1]
        trail = ", ".join(f"{n}: {mib:.0f}" for n, mib in points)
        growth = report.figure(f"{name}_rss_growth_mib", last - first, "MiB",
                               f"resident after {first_n} and after {last_n} gradings (MiB at {trail})")  # fmt: skip
        report.target(f"memory_{name}", growth <= GROWTH_TARGET_MIB,
                      f"grows <= {GROWTH_TARGET_MIB:.0f} MiB from grading {first_n} to {last_n}")  # fmt: skip
    return peaks


class _Poster:
    """The learner's form POST (`/exercises/docker-production/`), signed in, over HTTP."""

    def __init__(self, url: str) -> None:
        from .pages import Site
        from .throughput import _files  # the reference's two files

        self.url = f"{url}/exercises/docker-production/"
        token = secrets.token_hex(16)  # Django accepts a client-chosen token pair
        learner = Site()
        learner.sign_in()  # a signed-out POST would be sent to the login page
        self.headers = {
            "Cookie": f"{learner.cookie}; csrftoken={token}",
            "X-CSRFToken": token,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        files = _files()
        self.body = urlencode(
            {"dockerfile": files["Dockerfile"], "compose": files["docker-compose.yml"]}
        ).encode()

    def submit(self) -> int:
        from exercises.models import Submission

        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            connection.request("POST", parts.path, body=self.body, headers=self.headers)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        location = response.getheader("Location", "")
        if response.status != 302 or "/submissions/" not in location:
            raise StackError(f"POST {parts.path} answered {response.status} {location!r}, "
                             "not a redirect to the submission")  # fmt: skip
        public_id = location.rstrip("/").rsplit("/", 1)[-1]
        return Submission.objects.get(public_id=public_id).pk
