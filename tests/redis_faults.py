"""Redis servers that misbehave, for tests of the shop when Redis does (issue 20, item 17).

``hung_redis()`` listens on a free loopback port, accepts every connection and never answers a
byte: the worst kind of outage, where only timeouts save a page. It counts the connections it
accepted, so a test can see whether the shop still calls it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class HungRedis:
    url: str
    connections: list[socket.socket] = field(default_factory=list)


@contextlib.contextmanager
def hung_redis() -> Iterator[HungRedis]:
    """A Redis that accepts connections and stays silent, for the block."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.settimeout(0.05)
    server = HungRedis(url=f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server.connections.append(conn)  # kept open, never read, never answered

    thread = threading.Thread(target=accept, name="hung-redis", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()
        for conn in server.connections:
            conn.close()
