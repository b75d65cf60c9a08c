"""Teardowns that run after the verdict: `SandboxJob.teardown` in a thread of the worker.

A job's observations are complete before its resources are gone; killing an app whose
database was just stopped can take seconds, and the learner need not wait for that. The
teardown still always runs: in a non-daemon thread (an exiting interpreter waits for it),
and if the process dies first, the janitor removes the job's resources by their label.
"""

from __future__ import annotations

import threading
import time

import docker

from .job import SandboxJob


def wait_for_teardown(timeout: float | None = None) -> bool:
    """Wait until every job this process graded is torn down; False if `timeout` ran out."""
    return TEARDOWNS.wait(keep=0, timeout=timeout)


class Teardowns:
    """The teardowns running after their verdict (non-daemon threads: an exiting
    interpreter waits for them)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def start(self, job: SandboxJob, client: docker.DockerClient) -> None:
        def teardown() -> None:
            try:
                job.teardown()
            finally:
                client.close()

        thread = threading.Thread(target=teardown, name=f"teardown-{job.job_id}")
        try:
            thread.start()
        except RuntimeError:  # the interpreter is shutting down: tear down here and now
            teardown()
            return
        with self.lock:
            self.threads.append(thread)

    def wait(self, *, keep: int, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self.lock:
                self.threads = [t for t in self.threads if t.is_alive()]
                if len(self.threads) <= keep:
                    return True
                oldest = self.threads[0]
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            oldest.join(left)


TEARDOWNS = Teardowns()
