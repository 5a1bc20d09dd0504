"""CSV imports started from the admin: a stored file, a Celery task, progress on the job row.

The task runs the same import as `manage.py import_products` (import_product_file): batches of
their own transactions, one error line per bad row. After each batch the job row gets the rows
done, the counts and the first error lines, so the status page can show progress while it runs,
and a heartbeat: a job whose worker died (no progress for CATALOG_IMPORT_STALE_MINUTES) is marked
failed by the sweep_stale_import_jobs beat task, with the reason on its status page.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog import tasks
from catalog.models import ProductImportJob
from catalog.product_csv import CsvFormatError, read_records
from catalog.services.importing import ImportResult, RowError, import_product_file

MAX_STORED_ERRORS = 1000  # error lines kept on the job (the count covers them all)
State = ProductImportJob.State
_COUNTS = ("rows_done", "created", "updated", "unchanged", "refused", "errors")


class _JobGivenUp(Exception):
    """The sweep marked the job failed while this worker was still at it: stop at this batch."""


@transaction.atomic(durable=True)
def start_product_import(*, upload: UploadedFile, dry_run: bool, user_id: int | None) -> ProductImportJob:
    """Store the uploaded CSV (default storage: S3 or local media) and a QUEUED job, and on
    commit queue the task that imports it (at once, in process, on the embedded eager Celery)."""
    job = ProductImportJob(dry_run=dry_run, started_by_id=user_id, original_name=upload.name[:255])
    job.file.save(upload.name, upload, save=False)
    job.save()
    transaction.on_commit(partial(tasks.import_products_task.delay, job_id=job.pk))
    return job


def run_product_import(*, job_id: int) -> ProductImportJob:
    """Import the job's file, recording progress after each batch; returns the finished job.

    Idempotent: only a QUEUED job is claimed (one conditional UPDATE), so a redelivered task
    does nothing. A file refused as a whole ends FAILED with the reason; otherwise DONE with the
    counts and the first MAX_STORED_ERRORS error lines. Every write after the claim is
    conditional on the job still RUNNING: once the sweep has given it up (sweep_stale_import_jobs)
    a worker that was only slow stops after its current batch and leaves the job as the sweep
    left it. The import's own batches are durable transactions, so this function opens none
    around them.
    """
    claimed = ProductImportJob.objects.filter(pk=job_id, state=State.QUEUED).update(
        state=State.RUNNING, heartbeat_at=timezone.now()
    )
    job = ProductImportJob.objects.get(pk=job_id)
    if not claimed:
        return job
    try:
        job.rows_total = _count_rows(job)
        _save_if_running(job, "rows_total")
        with job.file.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream:
            _, total = import_product_file(stream=stream, dry_run=job.dry_run, on_batch=partial(_record, job))
        _copy_counts(job, total)
        job.state = State.DONE
    except CsvFormatError as exc:
        job.state, job.message = State.FAILED, str(exc)
    except _JobGivenUp:
        job.refresh_from_db()
        return job
    job.finished_at = timezone.now()
    if not _save_if_running(job, "state", "message", "finished_at", *_COUNTS):
        job.refresh_from_db()
    return job


def sweep_stale_import_jobs(*, now: datetime | None = None) -> int:
    """Mark FAILED the RUNNING jobs that showed no progress (claim or batch) for
    CATALOG_IMPORT_STALE_MINUTES: their worker died (a killed worker's redelivered task finds the
    job claimed and does nothing). The message, shown on the status page, says so and that the
    file can be imported again. One conditional UPDATE, so a job that moves meanwhile is left
    alone; idempotent. Returns how many. `now`: the time to judge by (tests; default: now)."""
    now = now or timezone.now()
    stale_after = timedelta(minutes=settings.CATALOG_IMPORT_STALE_MINUTES)
    message = (
        f"The import stopped: no progress for {settings.CATALOG_IMPORT_STALE_MINUTES} minutes, so its worker "
        "probably died. The batches done before are kept; import the file again to finish it (rows already "
        "imported are left unchanged)."
    )
    return (
        ProductImportJob.objects.annotate(last_seen=Coalesce("heartbeat_at", "created_at"))
        .filter(state=State.RUNNING, last_seen__lt=now - stale_after)
        .update(state=State.FAILED, message=message, finished_at=now)
    )


def _count_rows(job: ProductImportJob) -> int:
    """The file's data rows, read once before importing (a cheap pass: no database)."""
    with job.file.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream:
        return sum(1 for _ in read_records(stream))


def _record(job: ProductImportJob, rows: int, total: ImportResult, errors: list[RowError]) -> None:
    job.rows_done = rows
    _copy_counts(job, total)
    room = MAX_STORED_ERRORS - len(job.errors)
    if room > 0:
        job.errors = [*job.errors, *(str(error) for error in errors[:room])]
    if not _save_if_running(job, *_COUNTS):
        raise _JobGivenUp()


def _save_if_running(job: ProductImportJob, *fields: str) -> bool:
    """Write these fields and a new heartbeat, unless the job is no longer RUNNING (the sweep
    gave it up); False then."""
    job.heartbeat_at = timezone.now()
    values = {name: getattr(job, name) for name in (*fields, "heartbeat_at")}
    return bool(ProductImportJob.objects.filter(pk=job.pk, state=State.RUNNING).update(**values))


def _copy_counts(job: ProductImportJob, total: ImportResult) -> None:
    job.created, job.updated, job.unchanged, job.refused = (
        total.created, total.updated, total.unchanged, len(total.errors),
    )  # fmt: skip
