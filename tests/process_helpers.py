"""Servers the tests start as processes of their own (localstripe, the browser journey's shop)."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen, *, grace: float = 5) -> None:
    """Ask the process to stop; kill it when it has not within `grace` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
