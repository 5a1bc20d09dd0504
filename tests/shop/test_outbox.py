"""The outbox: a message commits with its change, is sent after commit, and is never lost."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shop import outbox
from shop.celery import app
from shop.models import OutboxMessage
from shop.tasks import relay_outbox_task
from tests.celery_helpers import real_broker
from tests.shop.test_celery import live_worker  # noqa: F401  (fixture)

RECEIVED: list[dict] = []
DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"


@app.task(name="tests.outbox_probe")
def outbox_probe(**kwargs) -> None:
    """Stands in for a consumer (allocation, payment result ...)."""
    RECEIVED.append(kwargs)


@pytest.fixture(autouse=True)
def routes(settings):
    RECEIVED.clear()
    settings.OUTBOX_ROUTES = {"test.happened": "tests.outbox_probe"}


def age(message: OutboxMessage) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(minutes=1))


@pytest.mark.django_db
def test_a_published_message_reaches_its_consumer_after_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = outbox.publish(topic="test.happened", key="SO1", payload={"order_id": 7})
        assert RECEIVED == []  # nothing leaves before the commit
    assert [{"message_id": message.pk, "order_id": 7}] == RECEIVED
    assert OutboxMessage.objects.get().dispatched_at is not None


@pytest.mark.django_db
def test_the_on_commit_send_uses_the_rows_in_hand_and_one_update(django_capture_on_commit_callbacks):
    # given: a change that publishes three messages
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        messages = outbox.publish_all([outbox.Message("test.happened", f"SO{n}", {"n": n}) for n in range(3)])
    # when: its hand-off runs after the commit
    with CaptureQueriesContext(connection) as queries:
        for callback in callbacks:
            callback()
    # then: all three are sent in order and marked in one statement, without reading them again
    assert [kwargs["n"] for kwargs in RECEIVED] == [0, 1, 2]
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE"]
    assert OutboxMessage.objects.filter(pk__in=[m.pk for m in messages], dispatched_at__isnull=False).count() == 3


@pytest.mark.django_db
def test_a_rolled_back_savepoint_sends_none_of_its_messages(django_capture_on_commit_callbacks):
    # given: a change that commits, with an inner step that failed and was rolled back
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        kept = outbox.publish(topic="test.happened", key="kept", payload={"n": 1})
        with pytest.raises(RuntimeError), transaction.atomic():
            outbox.publish(topic="test.happened", key="undone", payload={"n": 2})
            raise RuntimeError("the inner step failed")
    # then: only the committed message was sent, and it is the only row
    assert [{"message_id": kept.pk, "n": 1}] == RECEIVED
    assert [(m.key, m.dispatched_at is not None) for m in OutboxMessage.objects.all()] == [("kept", True)]


@pytest.mark.django_db
def test_a_rolled_back_change_publishes_nothing(django_capture_on_commit_callbacks):
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox.publish(topic="test.happened", key="SO1", payload={})
        raise RuntimeError("the change failed")
    assert (OutboxMessage.objects.count(), RECEIVED) == (0, [])


@pytest.mark.django_db(transaction=True)
def test_publishing_needs_the_changes_transaction_and_a_route():
    with pytest.raises(AssertionError):
        outbox.publish(topic="test.happened", key="x", payload={})
    with pytest.raises(outbox.UnroutedTopic), transaction.atomic():
        outbox.publish(topic="nobody.listens", key="x", payload={})


@pytest.mark.django_db(transaction=True)
def test_a_message_the_broker_refused_is_sent_by_the_relay_later():
    # given: the broker is down when the change commits
    with real_broker(DEAD_BROKER), transaction.atomic():
        message = outbox.publish(topic="test.happened", key="SO2", payload={"order_id": 8})
    message.refresh_from_db()
    assert message.dispatched_at is None
    assert message.attempts == 1
    assert message.last_error
    assert RECEIVED == []
    # when: the broker is back and the relay runs
    age(message)
    sent = relay_outbox_task.delay().get()
    # then
    assert sent == 1
    assert [{"message_id": message.pk, "order_id": 8}] == RECEIVED
    assert OutboxMessage.objects.get().dispatched_at is not None
    assert relay_outbox_task.delay().get() == 0  # nothing is sent twice by the relay


@pytest.mark.django_db(transaction=True)
def test_a_failed_relay_send_releases_its_lease_so_the_next_relay_retries_it():
    # given: a message the on-commit send could not hand over, and a relay that fails too
    with real_broker(DEAD_BROKER):
        with transaction.atomic():
            message = outbox.publish(topic="test.happened", key="SO5", payload={"order_id": 5})
        age(message)
        assert outbox.relay() == 0
    message.refresh_from_db()
    assert (message.attempts, message.claimed_until, message.dispatched_at) == (2, None, None)
    # when: the broker is back, the very next relay run (not one a lease later) sends it
    assert outbox.relay() == 1
    assert [{"message_id": message.pk, "order_id": 5}] == RECEIVED


@pytest.mark.django_db
def test_the_relay_leaves_fresh_messages_to_their_on_commit_send():
    with transaction.atomic():
        outbox.publish(topic="test.happened", key="SO3", payload={})
    # the on-commit hook never ran (no capture): the row is pending but younger than the grace
    assert outbox.relay() == 0
    assert RECEIVED == []


@pytest.mark.rabbitmq
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_consumes_a_published_message(live_worker):  # noqa: F811
    with transaction.atomic():
        message = outbox.publish(topic="test.happened", key="SO4", payload={"order_id": 9})
    deadline = time.monotonic() + 20
    while not RECEIVED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [{"message_id": message.pk, "order_id": 9}] == RECEIVED
    message.refresh_from_db()
    assert message.dispatched_at is not None


@pytest.mark.rabbitmq
@pytest.mark.django_db(transaction=True)
def test_a_changes_messages_reach_a_real_worker_in_order_over_one_producer(live_worker):  # noqa: F811
    # given: the broker's producer pool, counted (the pool itself is real)
    acquired = []
    pool_acquire = app.producer_pool.acquire

    def counting_acquire(*args, **kwargs):
        acquired.append(1)
        return pool_acquire(*args, **kwargs)

    app.producer_pool.acquire = counting_acquire
    try:
        # when: one change publishes five messages
        with transaction.atomic():
            messages = outbox.publish_all(
                [outbox.Message("test.happened", f"SO{n}", {"order_id": n}) for n in range(5)]
            )
    finally:
        del app.producer_pool.acquire
    # then: one producer carried all five, and the worker got them in order, each once
    assert len(acquired) == 1
    deadline = time.monotonic() + 20
    while len(RECEIVED) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [{"message_id": m.pk, "order_id": n} for n, m in enumerate(messages)] == RECEIVED
    assert OutboxMessage.objects.filter(dispatched_at__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_when_the_broker_is_down_every_message_of_a_change_waits_for_the_relay():
    with real_broker(DEAD_BROKER), transaction.atomic():
        outbox.publish_all([outbox.Message("test.happened", f"SO{n}", {"order_id": n}) for n in range(3)])
    assert RECEIVED == []
    assert [(m.dispatched_at, m.attempts, bool(m.last_error)) for m in OutboxMessage.objects.order_by("pk")] == [
        (None, 1, True)
    ] * 3


@pytest.mark.django_db
def test_retention_deletes_only_messages_sent_before_the_retention_period(settings):
    # given: one message sent 8 days ago, one sent an hour ago, and one never sent (8 days old)
    settings.OUTBOX_RETENTION_DAYS = 7
    old_sent, recent_sent, old_pending = (OutboxMessage.objects.create(topic="test.happened", key=k) for k in "abc")
    now = timezone.now()
    OutboxMessage.objects.filter(pk=old_sent.pk).update(dispatched_at=now - timedelta(days=8))
    OutboxMessage.objects.filter(pk=recent_sent.pk).update(dispatched_at=now - timedelta(hours=1))
    OutboxMessage.objects.filter(pk=old_pending.pk).update(created_at=now - timedelta(days=8))
    # when
    from shop.tasks import purge_outbox_task

    deleted = purge_outbox_task()
    # then: only the old sent one is gone; a message that was never sent stays for the relay
    assert deleted == 1
    assert set(OutboxMessage.objects.values_list("key", flat=True)) == {"b", "c"}
    assert purge_outbox_task() == 0  # idempotent


@pytest.mark.django_db
def test_retention_works_in_batches_until_nothing_old_is_left():
    OutboxMessage.objects.bulk_create(
        [OutboxMessage(topic="test.happened", key=str(i), dispatched_at=timezone.now() - timedelta(days=30))
         for i in range(25)]
    )  # fmt: skip
    assert outbox.purge_dispatched(older_than=timedelta(days=7), batch=10) == 25
    assert OutboxMessage.objects.count() == 0
