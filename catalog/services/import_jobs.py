"""CSV imports started from the admin: a stored file, a Celery task, progress on the job row.

The task runs the same import as `manage.py import_products` (import_product_file): batches of
their own transactions, one error line per bad row. After each batch the job row gets the rows
done, the counts and the first error lines, so the status page can show progress while it runs.
"""

from __future__ import annotations

import io
from functools import partial

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from catalog import tasks
from catalog.models import ProductImportJob
from catalog.product_csv import CsvFormatError, read_records
from catalog.services.importing import ImportResult, RowError, import_product_file

MAX_STORED_ERRORS = 1000  # error lines kept on the job (the count covers them all)
State = ProductImportJob.State


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
    counts and the first MAX_STORED_ERRORS error lines. The import's own batches are durable
    transactions, so this function opens none around them.
    """
    claimed = ProductImportJob.objects.filter(pk=job_id, state=State.QUEUED).update(state=State.RUNNING)
    job = ProductImportJob.objects.get(pk=job_id)
    if not claimed:
        return job
    try:
        job.rows_total = _count_rows(job)
        job.save(update_fields=["rows_total"])
        with job.file.open("rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as stream:
            _, total = import_product_file(stream=stream, dry_run=job.dry_run, on_batch=partial(_record, job))
    except CsvFormatError as exc:
        job.state, job.message = State.FAILED, str(exc)
    else:
        _copy_counts(job, total)
        job.state = State.DONE
    job.finished_at = timezone.now()
    job.save()
    return job


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
    job.save(update_fields=["rows_done", "created", "updated", "unchanged", "refused", "errors"])


def _copy_counts(job: ProductImportJob, total: ImportResult) -> None:
    job.created, job.updated, job.unchanged, job.refused = (
        total.created, total.updated, total.unchanged, len(total.errors),
    )  # fmt: skip
