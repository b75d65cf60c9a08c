"""Create (once) the instructor account the run command prints.

Credentials come from DRYDOCK_INSTRUCTOR_USERNAME / DRYDOCK_INSTRUCTOR_PASSWORD; without a
password one is generated and kept in var/instructor-password (mode 0600).
"""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the instructor (staff superuser) account if it does not exist; print its credentials."

    def handle(self, *args, **options):
        username = os.environ.get("DRYDOCK_INSTRUCTOR_USERNAME", "instructor")
        password = os.environ.get("DRYDOCK_INSTRUCTOR_PASSWORD") or self._stored_password()
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        if created or os.environ.get("DRYDOCK_INSTRUCTOR_PASSWORD"):
            user.set_password(password)
            user.save()
        self.stdout.write(f"instructor: {username} / {password}")

    @staticmethod
    def _stored_password() -> str:
        path = settings.VAR_DIR / "instructor-password"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(12))
        return path.read_text().strip()
