from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User


class Command(BaseCommand):
    help = "Create the demo back-office user once and print its e-mail and password (embedded default only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="admin@example.com")
        parser.add_argument("--password-file", default=str(Path(settings.BASE_DIR) / ".demo-admin"))

    def handle(self, *args, email: str, password_file: str, **options) -> None:
        path = Path(password_file)
        user = User.objects.filter(email__iexact=email).first()
        if user is None or not path.exists():
            password = secrets.token_urlsafe(12)
            if user is None:
                User.objects.create_superuser(email=email, password=password, full_name="Demo Admin")
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            path.write_text(password + "\n")
            path.chmod(0o600)
        password = path.read_text().strip()
        self.stdout.write(f"Back office: http://127.0.0.1:8000/admin/  e-mail: {email}  password: {password}")
