"""The browser journey runs only when asked for (`pytest -m e2e tests/e2e`, as .ci/e2e.sh does).

`make test` deselects it: it needs Debian's chromium, the npm packages of tests/e2e and a live
server of its own, and CI runs it once in its own bounded step instead of inside the suite.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.journey import AXE_SCRIPT
from tests.e2e.server import ROOT, LiveShop, live_shop

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", ROOT / "e2e-artifacts"))


def _asked_for_e2e(config: pytest.Config) -> bool:
    return "e2e" in (config.option.markexpr or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked_for_e2e(config):
        return
    journey = [item for item in items if item.get_closest_marker("e2e")]
    if journey:
        config.hook.pytest_deselected(items=journey)
        items[:] = [item for item in items if not item.get_closest_marker("e2e")]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots of each step (and the server's log), kept for CI; emptied at the start of a run."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[LiveShop]:
    workdir = tmp_path_factory.mktemp("e2e-shop")
    try:
        with live_shop(workdir) as running:
            yield running
    finally:
        if (workdir / "gunicorn.log").exists():
            shutil.copy(workdir / "gunicorn.log", artifacts / "server.log")


@pytest.fixture(scope="session")
def browser():
    missing = [str(p) for p in (Path(CHROMIUM), AXE_SCRIPT) if not p.exists()]
    if missing:
        pytest.fail(f"missing {missing}: apt-get install chromium; (cd tests/e2e && npm ci)", pytrace=False)
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()
