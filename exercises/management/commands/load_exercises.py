from django.core.management.base import BaseCommand

from exercises.services import exercise_load


class Command(BaseCommand):
    help = "Create or refresh exercises from exercises/assets/<slug>/."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", default=["docker-production"])

    def handle(self, *args, slugs, **options):
        for slug in slugs:
            exercise = exercise_load(slug=slug)
            self.stdout.write(f"{slug}: {exercise.checklist.count()} checklist items")
