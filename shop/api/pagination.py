"""Pagination for every list: page numbers for what customers sort, cursors for histories."""

from rest_framework.pagination import CursorPagination, PageNumberPagination


class PageNumberWithSize(PageNumberPagination):
    """`?page=2&page_size=48`; the size is capped so no client can ask for the whole catalog."""

    page_size = 24
    page_size_query_param = "page_size"
    max_page_size = 100


class HistoryCursorPagination(CursorPagination):
    """Stable under inserts, for append-only histories (orders, stock ledger): `?cursor=...`."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("-created_at", "-pk")


class OldestFirstCursorPagination(CursorPagination):
    """Work queues read oldest first (orders to ship): `?cursor=...`, stable while rows join and leave."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = ("created_at", "pk")
