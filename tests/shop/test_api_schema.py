"""OpenAPI 3 at /api/schema/ and Swagger UI at /api/docs/ from local static files."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def schema(db) -> dict:
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def test_schema_lists_the_api_endpoints(schema):
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/auth/token", "/api/v1/me", "/api/v1/addresses", "/api/v1/addresses/{address_id}"} <= set(
        schema["paths"]
    )


def test_every_operation_documents_throttling_with_retry_after(schema):
    for path, method, operation in operations(schema):
        assert "429" in operation["responses"], (method, path)
        assert "Retry-After" in operation["responses"]["429"]["headers"], (method, path)


def test_operations_on_an_object_document_404_and_writes_document_400(schema):
    for path, method, operation in operations(schema):
        if "{" in path:
            assert "404" in operation["responses"], (method, path)
        if method in {"post", "patch"}:
            assert "400" in operation["responses"], (method, path)


def test_errors_are_documented_with_the_one_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorDetail")
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) == {"code", "message", "fields"}


@pytest.mark.django_db
def test_swagger_ui_is_served_from_our_own_static_files(client):
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


def test_lists_are_documented_as_pages(schema):
    ok = schema["paths"]["/api/v1/addresses"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
    assert {"count", "next", "previous", "results"} <= set(page["properties"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("get", "/api/v1/cart", None), ("post", "/api/v1/cart/lines", {"product_id": 1, "quantity": 1}),
     ("post", "/api/v1/cart/operations", {"base_epoch": 0, "operations": []}),
     ("put", "/api/v1/cart/lines/{product_id}", {"quantity": 1}), ("delete", "/api/v1/cart/lines/{product_id}", None)],
)  # fmt: skip
def test_a_client_without_a_cart_gets_the_documented_404(schema, method, path, body):
    # an API key or no credentials at all, and no X-Guest-Token: found by the authenticated fuzz
    response = getattr(APIClient(), method)(path.replace("{product_id}", "1"), body, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "cart_not_found"
    assert "404" in schema["paths"][path][method]["responses"]
