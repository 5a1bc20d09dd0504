"""gunicorn's settings file (read from the working directory): Prometheus multi-process mode.

With PROMETHEUS_MULTIPROC_DIR set, every worker writes its metrics to files in that directory
and /metrics adds them up. The directory is emptied when gunicorn starts (files of an earlier
run would be counted again), and a worker that exits is marked dead so its live gauges go.
Command-line flags (workers, threads, bind) still come from the command.
"""

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
