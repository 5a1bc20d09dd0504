"""gunicorn.conf.py: the hooks gunicorn calls (it reads the file from the working directory)."""

from __future__ import annotations

import gc
import runpy

from django.conf import settings


def test_a_worker_that_loaded_the_application_freezes_it_out_of_the_collectors_sight():
    hooks = runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        hooks["post_worker_init"](worker=None)
        assert gc.get_freeze_count() > 10_000  # Django, the shop and the test run loaded so far
        gc.collect()  # a full collection leaves them where they are
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
