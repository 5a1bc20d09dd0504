from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail


@shared_task(name="accounts.send_account_email", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_account_email_task(*, subject: str, body: str, to_email: str) -> None:
    """Send one account e-mail (password reset); SMTP errors retry with backoff.

    Routed to the `email` queue by its name. A reset link is harmless to resend, so no log row.
    """
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to_email])
