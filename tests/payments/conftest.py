"""Payments fixtures: a private localstripe per test process, Stripe settings, a fault-injecting proxy.

Nothing here reaches past 127.0.0.1: localstripe listens there (tests/payments/stripe_helpers.py
says why it is not started with its own CLI), the proxy too, and `only_loopback` refuses any
other address for the tests that ask for it.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.payments import stripe_helpers
from tests.process_helpers import stop

ROOT = Path(__file__).resolve().parents[2]
LOCALSTRIPE_START_TIMEOUT = 20  # seconds


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """The URL of a localstripe started for this test process (each xdist worker gets its own)."""
    if importlib.util.find_spec("localstripe") is None:
        reason = "needs localstripe (the fake Stripe server): pip install -r requirements-dev.txt"
        if os.environ.get("SHOP_REQUIRE_SERVICES") == "1":
            pytest.fail(f"SHOP_REQUIRE_SERVICES=1 but this test {reason}", pytrace=False)
        pytest.skip(reason)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # Its output goes to a file, not a pipe: a full pipe would stall the server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.payments.stripe_helpers", "--port", str(port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_answering(url, process, log)
            yield url
        finally:
            stop(process)


def _wait_until_answering(url: str, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + LOCALSTRIPE_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"localstripe exited with {process.returncode}:\n{log.read().decode(errors='replace')}")
        try:
            stripe_helpers.count_payment_intents(url)
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"localstripe did not answer at {url} within {LOCALSTRIPE_START_TIMEOUT} s")


@pytest.fixture
def stripe_settings(settings, localstripe_url: str):
    """Settings that make get_gateway() the Stripe adapter talking to localstripe."""
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_API_KEY = stripe_helpers.API_KEY
    settings.STRIPE_API_BASE = localstripe_url
    settings.STRIPE_WEBHOOK_SECRET = stripe_helpers.WEBHOOK_SECRET
    return settings


@pytest.fixture
def only_loopback(monkeypatch) -> None:
    """Fail any TCP connection to anything but 127.0.0.1 / ::1 (no test may reach the internet)."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"a payments test tried to reach {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


# --- The fault-injecting proxy ----------------------------------------------------------------

FAULT_KINDS = ("timeout", "close", "429", "500", "502", "503")


@dataclass
class Fault:
    path: re.Pattern[str]
    method: str
    kind: str
    remaining: int
    forward: bool  # pass the request on first: the gateway acts, only its answer is lost
    hold: float  # seconds a "timeout" keeps the client waiting (past its read timeout)


class FaultyProxy:
    """A threaded HTTP proxy on 127.0.0.1 to an upstream (localstripe) that breaks requests on demand.

    `fail(path_regex, kind, times=N)` makes the next N requests whose path (without the query)
    matches break: "timeout" holds the connection past the client's read timeout and closes it
    unanswered, "close" drops it at once, "429"/"500"/"502"/"503" answer that status (429 and 500
    with a Stripe-style JSON error, 502 and 503 with an HTML page as a load balancer would). With
    forward=True the request reaches the upstream first, so the work is done and only the answer is
    lost. `requests` counts every request by (method, path); `injected` counts the faults served.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.faults: list[Fault] = []
        self.requests: Counter[tuple[str, str]] = Counter()
        self.injected = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="faulty-stripe", daemon=True)

    def fail(
        self, path: str, kind: str, times: int = 1, *, method: str = "POST", forward: bool = False, hold: float = 2.0
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        with self.lock:
            self.faults.append(Fault(re.compile(path), method.upper(), kind, times, forward, hold))

    def count(self, method: str, path: str) -> int:
        return self.requests[(method.upper(), path)]

    def start(self) -> FaultyProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            self.requests[(method, path)] += 1
            for fault in self.faults:
                if fault.remaining > 0 and fault.method == method and fault.path.fullmatch(path):
                    fault.remaining -= 1
                    self.injected += 1
                    return fault
        return None

    def _forward(self, method: str, target: str, headers, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            skip = {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "accept-encoding"}
            forwarded = {key: value for key, value in headers.items() if key.lower() not in skip}
            connection.request(method, target, body=body or None, headers=forwarded)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # quiet
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = urlsplit(self.path).path
                fault = proxy._take_fault(self.command, path)
                if fault is None or fault.forward:
                    status, headers, answer = proxy._forward(self.command, self.path, self.headers, body)
                    if fault is None:
                        self._answer(status, answer, dict(headers).get("Content-Type", "application/json"))
                        return
                self._break(fault)

            def _break(self, fault: Fault) -> None:
                self.close_connection = True
                if fault.kind == "timeout":
                    time.sleep(fault.hold)
                    return  # closed unanswered
                if fault.kind == "close":
                    return
                status = int(fault.kind)
                if status in (429, 500):
                    kind = "rate_limit_error" if status == 429 else "api_error"
                    error = f'{{"error": {{"type": "{kind}", "message": "injected {status}"}}}}'
                    self._answer(status, error.encode(), "application/json")
                else:
                    self._answer(status, f"<html><body>{status} (injected)</body></html>".encode(), "text/html")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            do_GET = do_POST = do_DELETE = _handle

        return Handler


@pytest.fixture
def faulty_stripe(stripe_settings, localstripe_url: str) -> Iterator[FaultyProxy]:
    """Stripe settings pointing at a FaultyProxy in front of localstripe; `.fail(...)` breaks requests."""
    proxy = FaultyProxy(localstripe_url).start()
    stripe_settings.STRIPE_API_BASE = proxy.url
    yield proxy
    proxy.stop()


@pytest.fixture
def count_payment_intents(localstripe_url: str):
    """count_payment_intents(reference=None): PaymentIntents at localstripe (all, or for one reference)."""

    def count(reference: str | None = None) -> int:
        return stripe_helpers.count_payment_intents(localstripe_url, reference)

    return count
