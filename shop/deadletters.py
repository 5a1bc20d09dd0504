"""Dead letters: tasks that failed for good, kept for staff to read and retry (STYLE.md section 9)."""

from __future__ import annotations

import json
import logging
from traceback import format_exc

from celery.exceptions import Retry
from celery.utils import uuid
from django.db import transaction
from django.utils import timezone

from shop.exceptions import DomainError
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
                error=_describe(exc)[:500],
                traceback=str(traceback or "")[-20000:],
            )
    except Exception:  # a database error, or arguments or an error that cannot even be described
        logger.exception("could not record the dead letter of %s %s", task_name, task_id)
        return None


class RetryFailed(DomainError):
    code = "retry_failed"
    status_code = 502
    default_message = "The task could not be sent again."


def retry(*, dead_letter_id: int) -> DeadLetter:
    """Send the task again with its arguments; remembers when and under which task id.

    Tasks are idempotent, so retrying twice (two staff clicking) does the work once. Raises
    RetryFailed when the broker refuses the task (the letter stays un-retried, so it can be tried
    again) and, in eager mode, when the task runs here and fails again: then this letter is marked
    retried and the new failure is a new dead letter.
    """
    from shop.celery import app  # local import: the Celery app imports this module's models lazily too

    letter = DeadLetter.objects.get(pk=dead_letter_id)
    task = app.tasks.get(letter.task_name)
    task_id = uuid()
    eager = task is not None and app.conf.task_always_eager
    try:
        if task is not None:
            result = task.apply_async(args=letter.args, kwargs=letter.kwargs, task_id=task_id)  # eager: runs here
        else:
            result = app.send_task(letter.task_name, args=letter.args, kwargs=letter.kwargs, task_id=task_id)
    except Exception as exc:
        if not eager:  # the broker did not take it: nothing was sent
            logger.warning("dead letter %s (%s) not sent again: %s", letter.pk, letter.task_name, exc)
            raise RetryFailed(f"{letter.task_name} could not be sent again: {_describe(exc)}") from exc
        # Eager mode propagating the task's error: Celery raises before on_failure, so the new
        # failure is recorded here (a Retry carries the error of the last attempt).
        error = exc.exc if isinstance(exc, Retry) and isinstance(exc.exc, BaseException) else exc
        record(task_name=letter.task_name, task_id=task_id, args=letter.args, kwargs=letter.kwargs, exc=error,
               traceback=format_exc())  # fmt: skip
        _mark_retried(letter, task_id)
        raise RetryFailed(f"{letter.task_name} failed again: {_describe(error)}") from exc
    _mark_retried(letter, task_id)
    if eager and result.failed():  # eager mode without propagation: on_failure recorded it
        raise RetryFailed(f"{letter.task_name} failed again: {_describe(result.result)}")
    return letter


def _mark_retried(letter: DeadLetter, task_id: str) -> None:
    DeadLetter.objects.filter(pk=letter.pk).update(retried_at=timezone.now(), retried_task_id=task_id)
    letter.refresh_from_db()


def _describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"


def _json_safe(value):
    """The value as JSON can hold it: what JSON cannot say is written as its str()."""
    try:
        return json.loads(json.dumps(value, default=str))
    except ValueError:  # a circular structure: keep what it looked like
        return repr(value)
