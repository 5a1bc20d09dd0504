"""Issue 19: a customer's and a staff member's journey in Debian's chromium, at desktop and phone widths.

Run with `bash .ci/e2e.sh` (or `pytest -m e2e tests/e2e -s`); see docs/e2e.md.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import Error as PlaywrightError

from tests.e2e.journey import ACTION_TIMEOUT_MS, PENDING_STEPS, STEPS, VIEWPORTS, Journey, Step, Viewport
from tests.e2e.server import LiveShop

pytestmark = pytest.mark.e2e

# E2E_RUN_PENDING=1 also runs the steps of PENDING_STEPS, as probes: each says whether it passes
# now, the journey goes on after one that fails (what follows may then fail for that reason too),
# and the test fails at the end if any did. For the lead after a merge: which lines to delete.
RUN_PENDING = os.environ.get("E2E_RUN_PENDING") == "1"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=[v.name for v in VIEWPORTS])
def test_journey(viewport: Viewport, browser: Browser, shop: LiveShop, artifacts: Path) -> None:
    folder = artifacts / viewport.name
    folder.mkdir()
    context = browser.new_context(viewport={"width": viewport.width, "height": viewport.height})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    script_errors: list[str] = []  # an uncaught error in a page's own script fails the journey
    context.on(
        "weberror", lambda error: script_errors.append(f"{error.page.url if error.page else '?'}: {error.error}")
    )
    journey = Journey(
        browser=browser, page=context.new_page(), shop=shop, viewport=viewport, artifacts=folder,
        email=f"journey-{viewport.name}@example.com",
    )  # fmt: skip
    started = time.monotonic()
    pending_failures = []
    try:
        for number, step in enumerate(STEPS, start=1):
            label = f"[e2e {viewport.name}] {number:02d} {step.name}"
            if step.phone_only and not viewport.is_phone:
                print(f"{label}: not for this width")
            elif step.name not in PENDING_STEPS:
                _run_step(journey, number, step, label)
            elif not RUN_PENDING:
                print(f"{label}: SKIPPED-PENDING, waits for {PENDING_STEPS[step.name]}")
            else:
                try:
                    _run_step(journey, number, step, label)
                except pytest.fail.Exception as exc:
                    print(f"{label}: PENDING, still fails: {exc}")
                    pending_failures.append(step.name)
                else:
                    print(f"{label}: PENDING step passes now: delete it from PENDING_STEPS")
    finally:
        for page_context in browser.contexts:
            page_context.close()
        print(f"[e2e {viewport.name}] journey wall time {time.monotonic() - started:.1f} s")
    errors = re.findall(r'"[A-Z]+ (\S+) HTTP/[\d.]+" (5\d\d) ', shop.log_path.read_text())
    assert not errors, f"the server answered 5xx: {errors}"
    assert not script_errors, f"errors in the pages' scripts: {script_errors}"
    assert not pending_failures, f"pending steps that still fail: {pending_failures}"


def _run_step(journey: Journey, number: int, step: Step, label: str) -> None:
    """Run one step; its screenshot is kept whatever happens, and a failure names the step."""
    shot = journey.shot = journey.artifacts / f"{number:02d}-{step.name}.png"
    journey.snapped = False
    step_started = time.monotonic()
    try:
        step.run(journey)
        if not journey.snapped:
            journey.snap()
        _no_sideways_scroll(journey)
    except (AssertionError, PlaywrightError) as exc:
        problem = str(exc)
    else:
        print(f"{label}: ok ({time.monotonic() - step_started:.1f} s) {shot.relative_to(shot.parents[2])}")
        return
    failed = shot.with_name(f"{shot.stem}-FAILED.png")
    try:
        journey.page.screenshot(path=failed, full_page=True)
    except PlaywrightError:
        failed = "(none: the page was gone)"
    pending = f" (listed in PENDING_STEPS: {PENDING_STEPS[step.name]})" if step.name in PENDING_STEPS else ""
    pytest.fail(f"{label} failed{pending}: {problem}\nscreenshot: {failed}", pytrace=False)


def _no_sideways_scroll(journey: Journey) -> None:
    """The storefront page a step ends on fits the screen's width (the back office is Django's)."""
    if "/admin/" in journey.page.url:
        return
    overflow = journey.page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{journey.page.url} is {overflow} px wider than the {journey.viewport.width} px screen"
