"""Machine clients (sellers, warehouses) call only the endpoints their key's scopes allow."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from shop.api.permissions import HasScopedAPIKey
from shop.models import ClientAPIKey


class StockFeedProbe(APIView):
    """Stands in for the seller stock feed of the catalog issue."""

    authentication_classes: list = []
    permission_classes = [HasScopedAPIKey]
    api_key_scope = "stock:write"

    def post(self, request):
        return Response({"caller": request.api_key.name})


def call(key: str | None):
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"} if key else {}
    return StockFeedProbe.as_view()(APIRequestFactory().post("/probe", {}, format="json", **headers))


@pytest.mark.django_db
def test_a_key_with_the_scope_gets_in_and_is_known_to_the_view():
    _, key = ClientAPIKey.objects.create_key(name="Acme seller", scopes=["stock:write"])
    response = call(key)
    assert response.status_code == 200
    assert response.data == {"caller": "Acme seller"}


@pytest.mark.django_db
@pytest.mark.parametrize("scopes", [[], ["orders:read"]])
def test_a_key_without_the_scope_is_refused(scopes):
    _, key = ClientAPIKey.objects.create_key(name="Warehouse", scopes=scopes)
    assert call(key).status_code == 403


@pytest.mark.django_db
def test_a_revoked_or_unknown_or_missing_key_is_refused():
    api_key, key = ClientAPIKey.objects.create_key(name="Old seller", scopes=["stock:write"])
    api_key.revoked = True
    api_key.save()
    assert call(key).status_code == 403
    assert call("AbCdEfGh.not-a-real-key").status_code == 403
    assert call(None).status_code == 403


@pytest.mark.django_db
def test_unknown_scopes_are_refused_when_staff_save_a_key():
    api_key = ClientAPIKey(name="Typo", scopes=["stock:writ"])
    with pytest.raises(ValidationError) as refused:
        api_key.full_clean(exclude=["id", "prefix", "hashed_key"])
    assert "scopes" in refused.value.message_dict


def test_probe_view_is_not_public():
    assert AllowAny not in StockFeedProbe.permission_classes
