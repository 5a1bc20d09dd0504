"""E-mails sent once: a log row is claimed before the e-mail is sent (STYLE.md section 9).

Every app that sends an e-mail that must go out exactly once keeps a log row per e-mail with a
unique key (an order's kind and reference, a stock alert's kind, a digest's day) and two
columns, `claimed_at` and `sent_at`. A new row starts with `claimed_at=NEVER_CLAIMED`, so the
first claim succeeds. `send_claimed` takes the claim with one conditional UPDATE (only one worker
wins), sends outside any transaction, then marks the row sent. A worker that dies between the
claim and `sent_at` leaves a claim that times out (EMAIL_CLAIM_TIMEOUT_SECONDS), and a later retry sends: at
least once with a tiny window, never two concurrent sends. A failed send gives its claim back at
once, so the task's retry can send.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import QuerySet
from django.utils import timezone

NEVER_CLAIMED = datetime(2000, 1, 1, tzinfo=UTC)  # a new log row's claimed_at: the first claim succeeds


def claim_timeout() -> timedelta:
    """A claim older than this was abandoned (a worker died, or the database went away between
    the send and marking it sent): a later retry or the sweep takes it again."""
    return timedelta(seconds=settings.EMAIL_CLAIM_TIMEOUT_SECONDS)


def send_claimed(log: QuerySet, build: Callable[[], EmailMessage | None]) -> bool:
    """Claim the e-mail whose log row `log` selects (one row), build it and send it, mark it sent.

    True when sent now; False when it was sent already or another worker holds a fresh claim.
    `build` runs after the claim and may return None when the e-mail is no longer wanted (an
    unsubscribed reader): the row is then marked sent without sending. Raises what sending raises
    (the claim is given back first).
    """
    now = timezone.now()
    if not log.filter(sent_at=None, claimed_at__lt=now - claim_timeout()).update(claimed_at=now):
        return False  # sent already, or another worker is sending it right now
    try:
        message = build()
        if message is not None:
            message.send()
    except Exception:
        log.filter(sent_at=None).update(claimed_at=NEVER_CLAIMED)
        raise
    log.update(sent_at=timezone.now())
    return message is not None
