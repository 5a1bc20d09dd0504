"""A private RabbitMQ node for tests that restart the broker (never the machine's shared one).

The node runs from the installed rabbitmq-server with its own name, ports (free ones, on
127.0.0.1), data, log and plugin files and its own HOME (for the Erlang cookie), in its own
process group, bounded by `timeout`. Stopping sends SIGTERM to that group only: RabbitMQ shuts
down as it does for a restart (it closes its clients' connections), and SIGKILL follows if it
does not.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
START_TIMEOUT = 90  # seconds: a cold start on a busy 2-core machine takes 5 to 25 s
LIFETIME = 900  # seconds: the node is killed by `timeout` after this, whatever happens to the test


def available() -> bool:
    return RABBITMQ_SERVER.exists() and shutil.which("timeout") is not None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRabbitMQ:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = _free_port()
        self.dist_port = _free_port()
        self.name = f"shoptest{os.getpid()}@localhost"
        self.process: subprocess.Popen | None = None
        for folder in ("home", "mnesia", "log"):
            (base / folder).mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "env.conf").write_text("")
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> None:
        env = {
            **os.environ,
            "HOME": str(self.base / "home"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "env.conf"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        log = (self.base / "server.out").open("ab")
        self.process = subprocess.Popen(
            ["timeout", str(LIFETIME), str(RABBITMQ_SERVER)], env=env, cwd=self.base, stdout=log, stderr=log,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the private RabbitMQ node exited; see {self.base / 'server.out'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError("the private RabbitMQ node did not start in time")

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group this object started, nothing else
            self.process.wait(timeout=60)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
