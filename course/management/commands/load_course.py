from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from course.services import ContentError, course_load


class Command(BaseCommand):
    help = "Load (idempotently) every course under COURSE_CONTENT_DIR, or the directory given."

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", help="a course directory holding course.yaml")

    def handle(self, *args, directory=None, **options):
        root = Path(settings.COURSE_CONTENT_DIR)
        directories = (
            [Path(directory)] if directory else sorted(p.parent for p in root.glob("*/course.yaml"))
        )
        if not directories:
            raise CommandError(f"no course.yaml under {root}")
        for path in directories:
            try:
                report = course_load(directory=path)
            except ContentError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{path.name}: {report}")
