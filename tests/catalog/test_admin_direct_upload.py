"""The product admin's direct picture upload (issue 17): with S3 media the image inline gets a
script that uses the uploads API with the admin's session; on local media the form upload only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from catalog.models import ProductImage
from tests.accounts.factories import UserFactory
from tests.catalog.conftest import picture_bytes
from tests.catalog.factories import ProductFactory
from tests.catalog.test_image_uploads import post_to_s3

pytestmark = pytest.mark.django_db

SCRIPT = "js/admin-direct-upload.js"


@pytest.fixture
def manager() -> Client:
    """A catalog manager signed in to the admin, with CSRF checks on as in a browser."""
    client = Client(enforce_csrf_checks=True)
    user = UserFactory(is_staff=True, email="manager@example.com")
    user.groups.add(Group.objects.get(name="Catalog managers"))
    client.force_login(user)
    return client


def start_url(product) -> str:
    return f"/api/v1/products/{product.pk}/images/uploads"


def test_with_s3_the_change_page_carries_the_uploader_script_and_its_start_url(s3_media, manager):
    product = ProductFactory()

    page = manager.get(reverse("admin:catalog_product_change", args=[product.pk])).content.decode()

    assert SCRIPT in page
    assert f'data-start-url="{start_url(product)}"' in page
    assert f'data-complete-url="{start_url(product)}/{{upload_id}}/complete"' in page


def test_on_local_media_the_change_page_keeps_the_form_upload_only(media_root, manager):
    product = ProductFactory()

    page = manager.get(reverse("admin:catalog_product_change", args=[product.pk])).content.decode()

    assert SCRIPT not in page and "data-start-url" not in page
    assert 'name="images-0-original"' in page  # the inline's own file field


def test_the_admin_session_starts_and_completes_an_upload_with_its_csrf_token(
    s3_media, manager, django_capture_on_commit_callbacks
):
    product = ProductFactory()
    manager.get(reverse("admin:catalog_product_change", args=[product.pk]))
    token = manager.cookies["csrftoken"].value

    refused = manager.post(start_url(product), {"content_type": "image/png"}, content_type="application/json")
    started = manager.post(start_url(product), {"content_type": "image/png", "alt_text": "Front"},
                           content_type="application/json", HTTP_X_CSRFTOKEN=token)  # fmt: skip
    assert refused.status_code == 403  # no CSRF token: a session alone is not enough
    assert started.status_code == 201, started.content
    ticket = started.json()
    assert post_to_s3(ticket, picture_bytes(image_format="PNG", size=(64, 48))) in (200, 201, 204)
    with django_capture_on_commit_callbacks(execute=True):
        completed = manager.post(
            f"{start_url(product)}/{ticket['upload_id']}/complete",
            {},
            content_type="application/json",
            HTTP_X_CSRFTOKEN=token,
        )  # as the script sends it

    assert completed.status_code == 201, completed.content
    image = ProductImage.objects.get(pk=completed.json()["id"])
    assert (image.product_id, image.alt_text) == (product.pk, "Front")
