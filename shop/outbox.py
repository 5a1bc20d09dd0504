"""The transactional outbox (ARCHITECTURE.md, failure rules).

`publish(topic=..., key=..., payload=...)` writes an OutboxMessage inside the caller's
transaction and, on commit, hands it to the Celery task that OUTBOX_ROUTES names for the topic.
If the broker does not take it (down, timing out), the row stays pending and the relay
(`shop.relay_outbox`, every few seconds on beat) sends it again. Consumers get
`message_id=` plus the payload and must be idempotent: a message can arrive twice (sent, then
the process died before it was marked dispatched).

shop/ knows no app: a topic is routed to a task *name*, looked up in Celery's registry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from shop.celery import app
from shop.models import OutboxMessage
from shop.observability import context, tracing

logger = logging.getLogger(__name__)

RELAY_BATCH = 100
RELAY_GRACE = timedelta(seconds=5)  # leave the on-commit send its chance before the relay steps in
RELAY_LEASE = timedelta(seconds=60)  # how long a relay's claim on a batch keeps other relays off it
# A pooled broker connection found dead (the broker restarted since it was last used) is reopened
# and the publish retried once, at once; a broker that is really down still fails fast and the
# relay sends the message later.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}


class UnroutedTopic(LookupError):
    pass


@dataclass(frozen=True)
class Message:
    topic: str
    key: str
    payload: dict


def publish(*, topic: str, key: str, payload: dict) -> OutboxMessage:
    """Write the message in the caller's open transaction; it is sent after commit."""
    return publish_all([Message(topic, key, payload)])[0]


def publish_all(messages: list[Message]) -> list[OutboxMessage]:
    """Write several messages of one change in one INSERT; after commit they are sent together
    and marked dispatched in one UPDATE (one commit, not one per message)."""
    assert transaction.get_connection().in_atomic_block, "publish() belongs inside the change's transaction"
    for message in messages:
        if message.topic not in settings.OUTBOX_ROUTES:
            raise UnroutedTopic(f"No OUTBOX_ROUTES entry for topic {message.topic!r}")
    request_id, trace_context = context.current_request_id() or "", tracing.inject()
    rows = OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                topic=m.topic, key=m.key, payload=m.payload, request_id=request_id, trace_context=trace_context
            )
            for m in messages
        ]
    )
    # robust: a failed hand-off (or, in eager mode, a failing consumer) never breaks the committed
    # request; the rows stay pending and the relay sends them again. The rows in hand are sent as
    # they are, not read again (one statement less per change): the hook runs only if they
    # committed (a rolled-back savepoint drops its hooks), and the relay leaves rows younger than
    # RELAY_GRACE alone. A transaction open longer than that may see the relay send them too:
    # at least once, as ever; consumers are idempotent.
    transaction.on_commit(lambda: _send_and_mark(rows), robust=True)
    return rows


def dispatch(*, message_ids: list[int]) -> int:
    """Hand pending messages to their tasks, in order; mark the sent ones dispatched. Returns how
    many were sent (a message dispatched already counts as sent and is not sent again)."""
    pending = {m.pk: m for m in OutboxMessage.objects.filter(pk__in=message_ids, dispatched_at__isnull=True)}
    already = sum(1 for pk in message_ids if pk not in pending)
    return already + _send_and_mark([pending[pk] for pk in message_ids if pk in pending])


def _send_and_mark(rows: list[OutboxMessage]) -> int:
    """Send these pending messages in order, then mark the sent ones dispatched in one UPDATE (one
    commit, not one per message). Returns how many were sent."""
    if not rows:
        return 0
    # One producer (one pooled broker connection and channel) for the whole hand-off, not one
    # taken from the pool per message: an allocation batch publishes hundreds of messages and
    # publishing was a fifth of the allocator's time (docs/pipeline.md). Eager tasks (the
    # embedded shop) run in this process and may publish in turn: no producer is held then.
    # Without one (eager, or the pool could not give one) each send takes its own.
    producer = None if app.conf.task_always_eager else _acquire_producer()
    try:
        sent = [row.pk for row in rows if _send(row, producer=producer)]
    finally:
        if producer is not None:
            producer.release()
    OutboxMessage.objects.filter(pk__in=sent, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
    )
    return len(sent)


def _acquire_producer():
    """A producer from the broker pool, or None when the pool gives none (it then fails, and is
    recorded, per message in _send)."""
    try:
        return app.producer_pool.acquire(block=True)
    except Exception as exc:
        logger.warning("no broker producer for the outbox hand-off: %s", exc)
        return None


def _send(message: OutboxMessage, *, producer) -> bool:
    task_name = settings.OUTBOX_ROUTES[message.topic]
    try:
        task = app.tasks.get(task_name)
        kwargs = {"message_id": message.pk, **message.payload}
        # The task's headers carry the request id, the message's key (an order number) and the
        # trace of the change that wrote it, whoever sends it (shop.observability.celery).
        with (
            context.bind(request_id=message.request_id or None, order_number=message.key or None),
            tracing.attached(message.trace_context),
        ):
            if task is not None:  # apply_async honours eager mode in the embedded shop
                task.apply_async(kwargs=kwargs, producer=producer, retry=True, retry_policy=PUBLISH_RETRY)
            else:
                app.send_task(task_name, kwargs=kwargs, producer=producer, retry=True, retry_policy=PUBLISH_RETRY)
    except Exception as exc:  # the broker refused, or (eager mode) the consumer failed: the relay sends it again
        # the relay's lease is released, so the next relay run retries it instead of waiting RELAY_LEASE out
        OutboxMessage.objects.filter(pk=message.pk).update(
            attempts=F("attempts") + 1, last_error=f"{exc.__class__.__name__}: {exc}"[:300], claimed_until=None
        )
        log = logger.warning if isinstance(exc, BrokerError | OSError) else logger.exception
        log("outbox message %s (%s) not sent: %s", message.pk, message.topic, exc)
        return False
    return True


def relay(*, limit: int = RELAY_BATCH) -> int:
    """Send what the on-commit hand-off never got through; returns how many were sent.

    Claims the oldest pending rows (SKIP LOCKED, so two relays never take the same batch) with a
    lease, commits, then sends them outside any transaction (in the embedded shop the consumer
    runs right here, with its own durable transaction). A relay that dies mid-batch leaves
    leases that expire, and the next relay sends those messages: at least once, never lost.
    """
    now = timezone.now()
    with transaction.atomic():
        pending = list(
            OutboxMessage.objects.filter(dispatched_at__isnull=True, created_at__lte=now - RELAY_GRACE)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("created_at", "pk")
            .select_for_update(skip_locked=True)[:limit]
            .values_list("pk", flat=True)
        )
        OutboxMessage.objects.filter(pk__in=pending).update(claimed_until=now + RELAY_LEASE)
    return dispatch(message_ids=pending)


def purge_dispatched(*, older_than: timedelta | None = None, batch: int = 5000) -> int:
    """Delete messages the broker took more than `older_than` ago (OUTBOX_RETENTION_DAYS), in
    batches of `batch` rows, each its own short transaction; never a message still pending.
    Returns how many were deleted. Idempotent; safe beside a running relay."""
    older_than = older_than if older_than is not None else timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        ids = list(
            OutboxMessage.objects.filter(dispatched_at__isnull=False, dispatched_at__lt=cutoff)
            .order_by("dispatched_at")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return deleted
        # The condition is repeated: a row is deleted only while it is still a sent one.
        deleted += OutboxMessage.objects.filter(pk__in=ids, dispatched_at__isnull=False).delete()[0]
