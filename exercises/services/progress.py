"""The grader's progress, written to the submission while it is graded: the running stage
(checking → building → running → probing), its message and the log tail. Only the lifecycle
creates a ProgressWriter, for the run that owns the submission."""

from __future__ import annotations

import logging
import threading
import time

from django.db import DatabaseError

from ..grading.types import Stage
from ..models import Submission

LOG_CAP_CHARS = 64 * 1024  # the tail of the build/run log kept on the submission

logger = logging.getLogger(__name__)


def log_tail(text: str, limit: int = LOG_CAP_CHARS) -> str:
    if len(text) <= limit:
        return text
    tail = text[-limit:]
    newline = tail.find("\n")
    if 0 <= newline < 200:
        tail = tail[newline + 1 :]
    return "… (earlier output cut)\n" + tail


class ProgressWriter:
    """The grader's progress callback: stage, message and log tail written to the row.

    Stage changes are written at once; messages and log chunks at most every `interval`
    seconds. Only the thread that grades writes (engine threads' calls are buffered), and only
    while this run still owns the submission (`task_id` fences a superseded run).
    """

    def __init__(self, submission_id: int, task_id: str, *, interval: float = 0.5) -> None:
        self.submission_id, self.task_id, self.interval = submission_id, task_id, interval
        self.thread = threading.get_ident()
        self.lock = threading.Lock()
        self.stage: str | None = None
        self.message = ""
        self.log = ""
        self.written_at = 0.0

    def __call__(self, stage: Stage, message: str, log: str = "") -> None:
        with self.lock:
            if log:
                self.log = log_tail(self.log + log)
            self.message = message[:500]
            changed = stage.value != self.stage
            self.stage = stage.value
            now = time.monotonic()
            if threading.get_ident() != self.thread or (
                not changed and now - self.written_at < self.interval
            ):
                return
            self.written_at = now
            try:
                Submission.objects.filter(
                    pk=self.submission_id, task_id=self.task_id, status__in=Submission.ACTIVE
                ).update(status=self.stage, stage_message=self.message, log=self.log)
            except DatabaseError as error:  # progress is a courtesy; never fail a grading for it
                logger.warning("progress of submission %s not saved: %s", self.submission_id, error)
