"""Pointing the Celery app at another broker for one test, and back."""

from __future__ import annotations

from contextlib import contextmanager

from kombu import pools

from shop.celery import app


def reset_broker_connections() -> None:
    # kombu keeps one global pool per broker URL; reset() closes and forgets all of them,
    # so the next publish opens a fresh connection to the URL now configured.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def real_broker(broker_url: str):
    """Tasks go to `broker_url` (not run eagerly) inside the block."""
    # Celery lets the CELERY_BROKER_URL environment variable win over broker_url, so the
    # read and write URLs (which take precedence over it) carry the switch.
    keys = ("task_always_eager", "broker_url", "broker_read_url", "broker_write_url")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        task_always_eager=False, broker_url=broker_url, broker_read_url=broker_url, broker_write_url=broker_url
    )
    reset_broker_connections()
    try:
        yield
    finally:
        app.conf.update(saved)
        reset_broker_connections()
