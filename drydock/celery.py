"""The Celery app, configured from Django settings (keys prefixed CELERY_).

Workers: `celery -A drydock worker -Q grading,celery -c $DRYDOCK_WORKERS`; each worker grades on
the engine its own DOCKER_HOST names. Beat: `celery -A drydock beat` runs the janitor.
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "drydock.settings.local")

app = Celery("drydock")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def schedule_janitor(sender: Celery, **kwargs) -> None:
    """The grading janitor every DRYDOCK_JANITOR_INTERVAL_S seconds.

    Its messages expire after one interval, so a backlog of janitors (workers down for an
    hour) collapses into one run when the workers come back.
    """
    from django.conf import settings

    interval = settings.DRYDOCK_JANITOR_INTERVAL_S
    sender.add_periodic_task(
        interval,
        sender.signature("exercises.tasks.janitor", options={"expires": interval}),
        name="grading-janitor",
    )


@signals.worker_process_shutdown.connect
def finish_teardowns(**kwargs) -> None:
    """A pool process that exits (recycled after CELERY_WORKER_MAX_TASKS_PER_CHILD, or a warm
    shutdown) first finishes the teardowns of its last gradings, which run after their
    verdict (billiard ends a child with os._exit, which would cut those threads short)."""
    from exercises.grading.sandbox import wait_for_teardown

    wait_for_teardown(timeout=120)
