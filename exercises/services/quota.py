"""The submission limit (DRYDOCK_SUBMISSION_RATE, "5/600": five attempts in ten minutes).

Only attempts count: Drydock's own faults and the submissions the static analysis settles with
nothing built (a YAML error, a sandbox-policy rejection) are free. Those are capped separately
and generously (STATIC_FACTOR × the limit), so a script cannot flood the static analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from ..models import Submission

if TYPE_CHECKING:
    from django.contrib.auth.models import User

STATIC_FACTOR = 6

RATE_LIMITED = (
    "You have reached the limit of {limit} submissions in {window} minutes. "
    "You can submit again at {time} UTC (in {wait})."
)


@dataclass(frozen=True)
class SubmissionQuota:
    """What the exercise page shows: attempts left in the window and when the next frees up."""

    limit: int
    window_s: int
    attempts: tuple[datetime, ...]  # counted submissions in the window, oldest first
    settled: tuple[datetime, ...] = ()  # statically settled ones in the window, oldest first

    @property
    def used(self) -> int:
        return len(self.attempts)

    @property
    def left(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def window_minutes(self) -> int:
        return max(1, round(self.window_s / 60))

    @property
    def next_free_at(self) -> datetime | None:
        """When one more attempt becomes available (None: none is used in the window)."""
        if not self.attempts:
            return None
        index = max(0, self.used - self.limit)
        return self.attempts[index] + timedelta(seconds=self.window_s)

    def allows(self, *, settled_statically: bool) -> bool:
        if settled_statically:
            return len(self.settled) < self.limit * STATIC_FACTOR
        return self.used < self.limit

    def retry_at(self, *, settled_statically: bool) -> datetime:
        times = self.settled if settled_statically else self.attempts
        cap = self.limit * STATIC_FACTOR if settled_statically else self.limit
        return times[max(0, len(times) - cap)] + timedelta(seconds=self.window_s)


def _rate() -> tuple[int, int]:
    limit, _, window = settings.DRYDOCK_SUBMISSION_RATE.partition("/")
    return int(limit), int(window)


def humanize_seconds(seconds: float) -> str:
    seconds = max(1, ceil(seconds))
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def submission_quota(*, learner: User, now: datetime | None = None) -> SubmissionQuota:
    now = now or timezone.now()
    limit, window = _rate()
    rows = (
        Submission.objects.filter(
            learner=learner,
            created_at__gt=now - timedelta(seconds=window),
            is_infrastructure_error=False,
        )
        .order_by("created_at")
        .values_list("created_at", "settled_statically")
    )
    attempts = tuple(at for at, settled in rows if not settled)
    settled = tuple(at for at, settled in rows if settled)
    return SubmissionQuota(limit, window, attempts, settled)


def rate_limit_message(
    quota: SubmissionQuota, *, settled_statically: bool, now: datetime
) -> tuple[str, datetime]:
    retry_at = quota.retry_at(settled_statically=settled_statically)
    message = RATE_LIMITED.format(
        limit=quota.limit * (STATIC_FACTOR if settled_statically else 1),
        window=quota.window_minutes,
        time=retry_at.astimezone(UTC).strftime("%H:%M:%S"),
        wait=humanize_seconds((retry_at - now).total_seconds()),
    )
    return message, retry_at


def lock_learner(learner_id: int) -> None:
    """Serialise a learner's writes (rate limit, attempt numbers) on databases with row locks.

    SQLite needs nothing more: its IMMEDIATE transactions already serialise writers.
    """
    list(get_user_model().objects.select_for_update().filter(pk=learner_id).values_list("pk"))
