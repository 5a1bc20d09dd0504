"""Every API error has one shape: {"error": {"code", "message", "fields"}} (STYLE.md section 10)."""

from __future__ import annotations

import io

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from shop.api.parsers import BoundedJSONParser, PayloadTooLarge
from shop.views import server_error
from tests.accounts.factories import UserFactory
from tests.api_helpers import error_of


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def signed_in_api(db) -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory())
    return client


@pytest.mark.django_db
def test_validation_error_names_each_field_and_reason(signed_in_api):
    response = signed_in_api.post("/api/v1/addresses", {"full_name": "Ada", "country": "XX"}, format="json")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"line1", "city", "postal_code", "country"}
    assert error["fields"]["country"] == ['"XX" is not a valid choice.']


@pytest.mark.django_db
def test_domain_error_keeps_its_code_and_status(signed_in_api):
    response = signed_in_api.get("/api/v1/addresses/999999")
    assert response.status_code == 404
    assert error_of(response) == {"code": "address_not_found", "message": "This address does not exist.", "fields": {}}


@pytest.mark.smoke
@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/me", "/api/", "/api/v1/addresses/"])
def test_unknown_api_path_answers_json_not_a_page(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["code"] == "not_found"


@pytest.mark.django_db
def test_wrong_method_is_405_with_allow_header(signed_in_api):
    response = signed_in_api.put("/api/v1/me", {"full_name": "x"}, format="json")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "PATCH" in response["Allow"]


@pytest.mark.django_db
def test_anonymous_client_gets_401_with_a_bearer_challenge(api):
    response = api.get("/api/v1/me")
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_malformed_json_is_400_and_other_media_types_415(signed_in_api):
    malformed = signed_in_api.post("/api/v1/addresses", "{not json", content_type="application/json")
    assert (malformed.status_code, error_of(malformed)["code"]) == (400, "malformed_request")
    form = signed_in_api.post("/api/v1/addresses", "a=b", content_type="application/x-www-form-urlencoded")
    assert (form.status_code, error_of(form)["code"]) == (415, "unsupported_media_type")


def test_server_error_under_api_is_json():
    response = server_error(RequestFactory().get("/api/v1/me"))
    assert response.status_code == 500
    assert error_of(response)["code"] == "server_error"


@pytest.mark.django_db
def test_a_browser_session_write_without_csrf_on_an_unknown_api_path_still_answers_json():
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    response = client.patch("/api/v1/addresses/null", {"city": "x"}, format="json")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.mark.django_db
def test_csrf_failure_under_api_is_json(client):
    from shop.views import csrf_failure

    response = csrf_failure(RequestFactory().post("/api/v1/me"), reason="CSRF cookie not set.")
    assert (response.status_code, error_of(response)["code"]) == (403, "csrf_failed")


# --- Bodies the parser must bound (issue 20, items 13 and 15) -------------------------------------

DEEP_JSON = '{"a": ' * 5000 + "1" + "}" * 5000  # about 30 kB


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/api/v1/auth/signup", "/api/v1/auth/token", "/api/v1/cart/lines", "/api/v1/checkout"]
)
def test_deeply_nested_json_is_a_400_in_the_error_shape(path):
    # before: RecursionError in the parser, a 500 (signed in, so checkout reads its body)
    client = APIClient()
    client.force_authenticate(UserFactory())
    response = client.post(path, DEEP_JSON, content_type="application/json", HTTP_IDEMPOTENCY_KEY="0b9a3c1e-5f7d-4a51-9a7e-2c2f6a1d9e01")
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "malformed_request"
    assert "nested deeper than 32 levels" in error["message"]


@pytest.mark.django_db
def test_json_nested_within_the_bound_still_reaches_the_view(settings):
    settings.API_MAX_JSON_DEPTH = 3
    body = '{"email": {"a": {"b": 1}}, "password": "x"}'  # three levels: parsed, then refused by the serializer
    response = APIClient().post("/api/v1/auth/signup", body, content_type="application/json")
    assert (response.status_code, error_of(response)["code"]) == (400, "invalid")
    too_deep = '{"email": {"a": {"b": {"c": 1}}}, "password": "x"}'
    response = APIClient().post("/api/v1/auth/signup", too_deep, content_type="application/json")
    assert (response.status_code, error_of(response)["code"]) == (400, "malformed_request")


@pytest.mark.django_db
def test_a_10_mb_json_body_is_a_413_in_the_error_shape():
    body = '{"email": "a@example.com", "password": "' + "x" * (10 * 1024 * 1024) + '"}'
    response = APIClient().post("/api/v1/auth/token", body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert error_of(response) == {
        "code": "payload_too_large",
        "message": "The request body is larger than 1048576 bytes.",
        "fields": {},
    }


@pytest.mark.django_db
def test_the_body_limit_is_a_setting_and_holds_without_a_content_length(settings):
    settings.API_MAX_BODY_BYTES = 100
    body = ('{"email": "a@example.com", "password": "' + "x" * 200 + '"}').encode()
    # a chunked body (no Content-Length) is cut where the parser reads past the limit
    with pytest.raises(PayloadTooLarge):
        BoundedJSONParser().parse(io.BytesIO(body))
    # an announced length above the limit: 413 before anything reads the body
    response = APIClient().post("/api/v1/auth/token", body, content_type="application/json")
    assert (response.status_code, error_of(response)["code"]) == (413, "payload_too_large")
