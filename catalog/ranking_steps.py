"""Steps that run after each popularity ranking, registered by apps the catalog may not import.

The ranking job (`python manage.py recompute_popularity` and its beat task) calls `run_all()` once
its scores are written. An app that computes something from its own data on the same schedule
registers a function from its AppConfig.ready(): orders registers "orders.recommendations"
("customers also bought", computed from its order lines). The catalog never imports those apps;
they import this module (the way back up is a registration, as a signal would be, but ordered
and with each step's result returned to the job for its report).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

_steps: dict[str, Callable[[], object]] = {}


def register(name: str, step: Callable[[], object]) -> None:
    """Run `step()` (no arguments) after every ranking. Registering a name again replaces its step
    (ready() may run more than once in tests), so each name runs once per ranking."""
    _steps[name] = step


def registered() -> list[str]:
    """The names of the registered steps, in the order they run (registration order)."""
    return list(_steps)


def run_all() -> dict[str, object]:
    """Run every registered step in registration order; {name: what it returned}.

    A step that raises stops the run there and the error reaches the job (its task retries; every
    step is idempotent, so running the ones before it again changes nothing).
    """
    results = {}
    for name, step in list(_steps.items()):
        results[name] = step()
        logger.info("after-ranking step %s done: %s", name, results[name])
    return results
