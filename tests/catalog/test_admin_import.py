"""The admin's CSV import page (issue 17): upload, a Celery task (eager here), a status page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from catalog import services
from catalog.models import Product, ProductImportJob
from catalog.services import ImportResult
from tests.accounts.factories import UserFactory
from tests.catalog.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:catalog_product_import")
PRODUCTS_URL = reverse("admin:catalog_product_changelist")
CSV = (
    "sku,title,price,category\r\n"
    "LAMP-1,Brass desk lamp,49.90,lamps\r\n"  # row 2: good
    "LAMP-2,Black lamp,-1,lamps\r\n"  # row 3: price below 0
    "LAMP-3,Lost lamp,10,no-such-category\r\n"  # row 4: unknown category
    "LAMP-4,Green lamp,19.00,lamps\r\n"  # row 5: good
)


@pytest.fixture
def lamps():
    return CategoryFactory(name="Lamps", slug="lamps")


@pytest.fixture
def manager_client(client):
    """A staff member of the "Catalog managers" group (add and change product permissions)."""
    user = UserFactory(is_staff=True, email="manager@example.com")
    user.groups.add(Group.objects.get(name="Catalog managers"))
    client.force_login(user)
    return client


def upload(client, text: str, *, dry_run: bool):
    data = {"file": SimpleUploadedFile("products.csv", text.encode(), content_type="text/csv")}
    if dry_run:
        data["dry_run"] = "on"
    return client.post(IMPORT_URL, data)


def import_and_show(client, capture, text: str, *, dry_run: bool):
    """Upload, let the (eager) task run on commit, then open the status page it redirected to."""
    with capture(execute=True):
        response = upload(client, text, dry_run=dry_run)
    assert response.status_code == 302
    return client.get(response["Location"])


def test_a_catalog_manager_imports_a_file_and_sees_the_summary_and_each_refused_row(
    manager_client, lamps, media_root, django_capture_on_commit_callbacks
):
    assert b"Import products from CSV" in manager_client.get(PRODUCTS_URL).content

    response = import_and_show(manager_client, django_capture_on_commit_callbacks, CSV, dry_run=False)

    assert response.status_code == 200
    page = response.content.decode()
    assert "4 rows: 2 created, 0 updated, 0 unchanged, 2 refused." in page
    assert "row 3: price: Must not be below 0." in page
    assert "row 4: category: No category has the slug &#x27;no-such-category&#x27;." in page
    assert 'http-equiv="refresh"' not in page  # finished: the page stops reloading
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["LAMP-1", "LAMP-4"]
    job = ProductImportJob.objects.get()
    assert (job.state, job.rows_total, job.rows_done, job.created, job.refused) == ("done", 4, 4, 2, 2)
    assert job.started_by.email == "manager@example.com"


def test_the_status_page_of_a_running_import_refreshes_and_shows_its_progress(manager_client, lamps, media_root):
    job = ProductImportJob.objects.create(file="catalog/imports/x.csv", original_name="x.csv",
                                          state=ProductImportJob.State.RUNNING, rows_total=10, rows_done=4,
                                          refused=1, errors=["row 3: price: Must not be below 0."])  # fmt: skip

    page = manager_client.get(reverse("admin:catalog_product_import_status", args=[job.pk])).content.decode()

    assert 'http-equiv="refresh"' in page
    assert "4 / 10 rows done" in page and "1 refused so far" in page
    assert "row 3: price: Must not be below 0." in page


def test_a_dry_run_reports_the_same_and_changes_nothing(
    manager_client, lamps, media_root, django_capture_on_commit_callbacks
):
    lamp = ProductFactory(sku="LAMP-1", title="Old title", price=Decimal("10.00"), category=lamps)
    before = list(Product.objects.order_by("pk").values_list("sku", "title", "price", "version"))

    page = import_and_show(manager_client, django_capture_on_commit_callbacks, CSV, dry_run=True).content.decode()

    assert "Dry run, nothing written: 4 rows: 1 created, 1 updated, 0 unchanged, 2 refused." in page
    assert list(Product.objects.order_by("pk").values_list("sku", "title", "price", "version")) == before
    lamp.refresh_from_db()
    assert lamp.title == "Old title"


def test_a_file_with_a_bad_header_fails_as_a_whole_with_the_reason(
    manager_client, lamps, media_root, django_capture_on_commit_callbacks
):
    bad_header = "sku,titel,price,category\nA,B,1,lamps\n"
    page = import_and_show(
        manager_client, django_capture_on_commit_callbacks, bad_header, dry_run=False
    ).content.decode()

    assert "missing column(s): title" in page
    assert ProductImportJob.objects.get().state == "failed" and not Product.objects.exists()


@pytest.mark.parametrize("who", ["staff without product permissions", "customer"])
def test_without_the_add_and_change_product_permissions_the_import_pages_are_refused(client, lamps, media_root, who):
    client.force_login(UserFactory(is_staff=who.startswith("staff"), email="someone@example.com"))
    job = ProductImportJob.objects.create(file="catalog/imports/x.csv")

    responses = [client.get(IMPORT_URL), upload(client, CSV, dry_run=False),
                 client.get(reverse("admin:catalog_product_import_status", args=[job.pk]))]  # fmt: skip

    if who.startswith("staff"):
        assert [r.status_code for r in responses] == [403, 403, 403]
    else:  # the admin sends a non-staff user to its login page
        assert all(r.status_code in (200, 302) and b"Import products" not in r.content for r in responses)
    assert ProductImportJob.objects.count() == 1 and not Product.objects.exists()


# --- A job whose worker died (sweep_stale_import_jobs) ------------------------------------------


def running_job(**fields) -> ProductImportJob:
    return ProductImportJob.objects.create(file="catalog/imports/x.csv", original_name="x.csv",
                                           state=ProductImportJob.State.RUNNING, rows_total=10, **fields)  # fmt: skip


def test_a_running_import_without_progress_for_too_long_is_failed_with_the_reason_on_its_page(
    manager_client, lamps, media_root, settings
):
    settings.CATALOG_IMPORT_STALE_MINUTES = 30
    now = timezone.now()
    stuck = running_job(rows_done=4, heartbeat_at=now - timedelta(minutes=31))
    moving = running_job(rows_done=6, heartbeat_at=now - timedelta(minutes=29))
    never_beat = running_job()  # claimed before heartbeats existed: judged by when it was created
    ProductImportJob.objects.filter(pk=never_beat.pk).update(created_at=now - timedelta(hours=2))
    done = ProductImportJob.objects.create(file="catalog/imports/y.csv", state=ProductImportJob.State.DONE,
                                           heartbeat_at=now - timedelta(hours=2))  # fmt: skip

    assert services.sweep_stale_import_jobs(now=now) == 2
    assert services.sweep_stale_import_jobs(now=now) == 0  # idempotent

    states = dict(ProductImportJob.objects.values_list("pk", "state"))
    assert states == {stuck.pk: "failed", moving.pk: "running", never_beat.pk: "failed", done.pk: "done"}
    page = manager_client.get(reverse("admin:catalog_product_import_status", args=[stuck.pk])).content.decode()
    assert "no progress for 30 minutes" in page and "import the file again" in page
    assert "4 / 10 rows done" in page and 'http-equiv="refresh"' not in page


def test_a_slow_worker_given_up_by_the_sweep_stops_at_its_next_batch_and_leaves_the_job_failed(
    lamps, media_root, monkeypatch
):
    job = services.start_product_import(
        upload=SimpleUploadedFile("products.csv", CSV.encode(), content_type="text/csv"), dry_run=False, user_id=None
    )
    batches_after_the_sweep = []

    def slow_import(*, stream, dry_run, on_batch):
        services.sweep_stale_import_jobs(now=timezone.now() + timedelta(hours=1))  # meanwhile, the sweep
        on_batch(2, ImportResult(created=1), [])
        batches_after_the_sweep.append("imported another batch")
        return 4, ImportResult(created=2)

    monkeypatch.setattr("catalog.services.import_jobs.import_product_file", slow_import)

    finished = services.run_product_import(job_id=job.pk)

    assert batches_after_the_sweep == []
    assert finished.state == "failed" and "no progress" in finished.message and finished.rows_done == 0
    assert ProductImportJob.objects.get(pk=job.pk).state == "failed"


def test_a_running_import_records_its_heartbeat_with_each_batch(lamps, media_root):
    job = services.start_product_import(
        upload=SimpleUploadedFile("products.csv", CSV.encode(), content_type="text/csv"), dry_run=False, user_id=None
    )

    finished = services.run_product_import(job_id=job.pk)

    assert finished.state == "done" and finished.heartbeat_at is not None
    assert services.sweep_stale_import_jobs(now=timezone.now() + timedelta(days=1)) == 0  # finished jobs stay done
