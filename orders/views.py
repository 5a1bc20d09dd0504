"""Storefront pages of orders (being written)."""

from django.http import Http404


def _todo(request, *args, **kwargs):
    raise Http404


checkout_address_view = checkout_delivery_view = checkout_payment_view = checkout_review_view = _todo
order_list_view = order_find_view = order_detail_view = order_status_view = order_cancel_view = _todo
