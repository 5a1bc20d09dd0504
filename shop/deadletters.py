"""Dead letters: tasks that failed for good, kept for staff to read and retry (STYLE.md section 9)."""

from __future__ import annotations

import json
import logging

from django.db import DatabaseError, transaction
from django.utils import timezone

from shop.models import DeadLetter

logger = logging.getLogger(__name__)


def record(*, task_name: str, task_id: str, args, kwargs, exc: BaseException, traceback: str) -> DeadLetter | None:
    """Write the dead letter in its own transaction; never raises (the worker must carry on)."""
    try:
        with transaction.atomic():
            return DeadLetter.objects.create(
                task_name=task_name,
                task_id=task_id or "",
                args=_json_safe(list(args or [])),
                kwargs=_json_safe(dict(kwargs or {})),
                error=f"{exc.__class__.__name__}: {exc}"[:500],
                traceback=traceback[-20000:],
            )
    except DatabaseError:
        logger.exception("could not record the dead letter of %s %s", task_name, task_id)
        return None


def retry(*, dead_letter_id: int) -> DeadLetter:
    """Send the task again with its arguments; remembers when and under which task id.

    Tasks are idempotent, so retrying twice (two staff clicking) does the work once.
    """
    from shop.celery import app  # local import: the Celery app imports this module's models lazily too

    letter = DeadLetter.objects.get(pk=dead_letter_id)
    task = app.tasks.get(letter.task_name)
    if task is not None:
        result = task.apply_async(args=letter.args, kwargs=letter.kwargs)  # eager in the embedded shop
    else:
        result = app.send_task(letter.task_name, args=letter.args, kwargs=letter.kwargs)
    DeadLetter.objects.filter(pk=letter.pk).update(retried_at=timezone.now(), retried_task_id=result.id or "")
    letter.refresh_from_db()
    return letter


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))
