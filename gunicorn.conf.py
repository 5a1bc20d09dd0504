"""gunicorn's settings file (read from the working directory): Prometheus multi-process mode,
and the garbage collector told to leave the loaded application alone.

With PROMETHEUS_MULTIPROC_DIR set, every worker writes its metrics to files in that directory
and /metrics adds them up. The directory is emptied when gunicorn starts (files of an earlier
run would be counted again), and a worker that exits is marked dead so its live gauges go.
Command-line flags (workers, threads, bind) still come from the command.
"""

import gc
import os
import shutil


def on_starting(server) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:
    """The worker has loaded Django and the shop: move those objects (modules, URL patterns,
    models, settings) to the collector's permanent generation, where no collection walks them.
    They live as long as the process anyway. In a warm process (150,000 objects) a full
    collection came about once per 300 product pages and cost one request some 115 ms
    (docs/read-path.md)."""
    gc.freeze()
