"""A clock that moves only when a test says so, for the circuit breakers and other code that
compares the time with a deadline: a test asserts "still open" or "open again" by moving the
clock, never by sleeping and hoping a busy CI machine was quick enough."""

from __future__ import annotations

import time as real_time


class FakeClock:
    """Stands in for the `time` module of the modules it is patched into: time() and monotonic()
    read the fake now; everything else (sleep, strftime, ...) is the real module's."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str):
        return getattr(real_time, name)
