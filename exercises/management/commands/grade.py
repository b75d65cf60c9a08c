"""`manage.py grade DIR [--exercise docker-production] [--static-only] [--json]`."""

import sys

from django.core.management.base import BaseCommand

from exercises.grading import cli


class Command(BaseCommand):
    help = "Grade the learner files in DIR (exit 0 passed/failed, 3 rejected, 2 error)."

    def run_from_argv(self, argv):
        # The grader owns its argument parsing and exit codes (a public contract).
        sys.exit(cli.main(argv[2:]))
