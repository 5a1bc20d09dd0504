"""Page numbers with a capped size for lists; cursors for append-only histories."""

from __future__ import annotations

import pytest
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.serializers import ModelSerializer
from rest_framework.test import APIRequestFactory

from shop.api.pagination import HistoryCursorPagination, PageNumberWithSize
from shop.models import IdempotencyKey


class KeySerializer(ModelSerializer):
    class Meta:
        model = IdempotencyKey
        fields = ["key"]


def list_view(pagination):
    return ListAPIView.as_view(
        queryset=IdempotencyKey.objects.order_by("pk"), serializer_class=KeySerializer, pagination_class=pagination,
        permission_classes=[AllowAny], authentication_classes=[],
    )  # fmt: skip


@pytest.fixture
def keys(db):
    IdempotencyKey.objects.bulk_create(IdempotencyKey(scope="s", key=f"k{n:03d}", fingerprint="f") for n in range(150))


def test_page_size_is_capped_at_100(keys):
    response = list_view(PageNumberWithSize)(APIRequestFactory().get("/", {"page_size": 1000}))
    assert len(response.data["results"]) == 100
    assert response.data["count"] == 150


def test_page_past_the_end_is_a_404(keys):
    response = list_view(PageNumberWithSize)(APIRequestFactory().get("/", {"page": 99}))
    assert response.status_code == 404


def test_cursor_pages_stay_stable_when_new_rows_arrive(keys):
    first = list_view(HistoryCursorPagination)(APIRequestFactory().get("/"))
    IdempotencyKey.objects.create(scope="s", key="newest", fingerprint="f")
    second = list_view(HistoryCursorPagination)(APIRequestFactory().get(first.data["next"]))
    seen = [row["key"] for row in first.data["results"] + second.data["results"]]
    assert len(seen) == len(set(seen)) == 40
    assert "newest" not in seen
