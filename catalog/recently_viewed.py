"""Recently viewed: the last CATALOG_RECENTLY_VIEWED products a visitor looked at, newest first.

A visitor is a signed-in customer (by user id) or a guest (by guest token, shop.guest); each has
one list of product ids, newest first, no duplicates, capped, living CATALOG_RECENTLY_VIEWED_DAYS
after the last view:

- keys: ``catalog:recent:v1:user:<user id>`` and ``catalog:recent:v1:guest:<sha256 of the token>``
  (the token itself is never stored), under the cache's prefix;
- on Redis, a list: a view is ``LREM id; LPUSH id; LTRIM 0 N-1; EXPIRE`` (``LPUSH; EXPIRE`` for a list
  this request begins: a guest given its token now) and a read ``LRANGE 0 N-1``,
  both riding the page's catalog lookup pipelines (catalog.cache.ride), so a read costs no round
  trip and a view at most one constant round trip; on the local-memory default, a Python list
  under the same key through Django's cache API (`make run` shows it too).

Fails open: with Redis down a read is an empty list (the block is not shown) and a view is lost.
At sign-in the guest's list is merged into the customer's (catalog.receivers) and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from catalog import cache as catalog_cache
from catalog import selectors
from catalog.activity import is_crawler
from shop.guest import guest_key, guest_token_from_request, is_valid_guest_token, new_guest_token

KEY_PREFIX = "catalog:recent:v1"
RECENT_COOKIE = "recently_viewed"  # a browsing guest's list (a token of its own, not the cart's)
NEW_GUEST_TTL = 24 * 60 * 60  # a list begun without a guest cookie, until the visitor comes back with it


def customer_list_key(user_id: int) -> str:
    return f"{KEY_PREFIX}:user:{user_id}"


def guest_list_key(guest_token: str) -> str:
    return f"{KEY_PREFIX}:guest:{guest_key(guest_token)}"


def _limit() -> int:
    return settings.CATALOG_RECENTLY_VIEWED


def _ttl() -> int:
    return settings.CATALOG_RECENTLY_VIEWED_DAYS * 24 * 60 * 60


def _newest_first(*lists: list[int]) -> list[int]:
    """The ids of these lists in this order, each once, capped."""
    return list(dict.fromkeys(i for ids in lists for i in ids))[: _limit()]


@dataclass(frozen=True)
class Visitor:
    """Whose list: `key` is its cache key; `new` when the guest token was made by this request."""

    key: str
    new: bool = False

    @classmethod
    def of(cls, *, user=None, guest_token: str | None = None) -> Visitor | None:
        """The customer if signed in, else the guest of this (well-formed) token, else None."""
        if user is not None and user.is_authenticated:
            return cls(customer_list_key(user.pk))
        return cls(guest_list_key(guest_token)) if guest_token else None


# --- Reads and writes (riders of the catalog's lookup pipelines) ---------------------------------


def _read_rider(key: str, then) -> catalog_cache.Rider:
    def redis(pipe, client):
        pipe.lrange(client.make_key(key), 0, _limit() - 1)
        return lambda results: [int(i) for i in results[0]]

    return catalog_cache.Rider(redis=redis, plain=lambda: list(cache.get(key) or [])[: _limit()], then=then)


def _view_rider(key: str, product_id: int, ttl: int, *, new: bool = False) -> catalog_cache.Rider:
    def redis(pipe, client):
        made = client.make_key(key)
        if not new:  # a list begun by this request holds nothing to drop or trim
            pipe.lrem(made, 0, product_id)
        pipe.lpush(made, product_id)
        if not new:
            pipe.ltrim(made, 0, _limit() - 1)
        pipe.expire(made, ttl)
        return lambda results: None

    def plain():
        cache.set(key, _newest_first([product_id], cache.get(key) or []), ttl)

    return catalog_cache.Rider(redis=redis, plain=plain, write=True)


def _forget_rider(key: str, product_ids: set[int]) -> catalog_cache.Rider:
    def redis(pipe, client):
        for product_id in sorted(product_ids):
            pipe.lrem(client.make_key(key), 0, product_id)
        return lambda results: None

    def plain():
        if kept := [i for i in cache.get(key) or [] if i not in product_ids]:
            cache.set(key, kept, _ttl())
        else:
            cache.delete(key)

    return catalog_cache.Rider(redis=redis, plain=plain, write=True)


def record_view(*, visitor: Visitor, product_id: int) -> None:
    """Put this product first in the visitor's list (dropping its older place, capping the list).
    Rides the request's next catalog lookup, or goes at the end of the request; never raises."""
    catalog_cache.ride(_view_rider(visitor.key, product_id, NEW_GUEST_TTL if visitor.new else _ttl(), new=visitor.new))


def product_ids(*, visitor: Visitor) -> list[int]:
    """The visitor's product ids, newest first ([] when Redis does not answer). One round trip."""
    found: list = []
    catalog_cache.ride(_read_rider(visitor.key, found.append))
    catalog_cache.flush_riders()
    return [] if not found or found[0] is catalog_cache.FAILED else found[0]


def clear(*, visitor: Visitor) -> None:
    """Forget the visitor's list (the storefront's Clear button, DELETE /api/v1/me/recently-viewed)."""
    cache.delete(visitor.key)


def merge_guest_into_customer(*, guest_token: str, user_id: int) -> None:
    """At sign-in: the guest's views first (they are the latest), then the customer's own, each
    product once, capped; the guest's list is dropped. Atomic on Redis (WATCH/MULTI, retried when
    a view lands meanwhile). Fails open: with Redis down the guest's list simply expires."""
    guest, customer = guest_list_key(guest_token), customer_list_key(user_id)
    client = catalog_cache._redis_client()
    if client is None:
        found = cache.get_many([guest, customer])
        if found.get(guest):
            cache.set(customer, _newest_first(found[guest], found.get(customer) or []), _ttl())
            cache.delete(guest)
        return
    guest_made, customer_made = client.make_key(guest), client.make_key(customer)

    def move(pipe) -> None:
        guest_ids, customer_ids = (list(map(int, pipe.lrange(k, 0, -1))) for k in (guest_made, customer_made))
        pipe.multi()
        if guest_ids:
            pipe.delete(customer_made, guest_made)
            pipe.rpush(customer_made, *_newest_first(guest_ids, customer_ids))
            pipe.expire(customer_made, _ttl())

    try:
        client.get_client(write=True).transaction(move, guest_made, customer_made)
    except Exception as exc:  # logged once a minute, never an error at sign-in
        catalog_cache._outage(exc)


# --- One page's list ------------------------------------------------------------------------------


class RecentlyViewed:
    """A page's "Recently viewed" row. Made at the start of the view, so the visitor's list is read
    in the page's first catalog lookup (no round trip of its own) and its cards are read with the
    page's other cards when the page reads any afterwards."""

    def __init__(self, visitor: Visitor | None, *, new_token: str | None = None) -> None:
        self.visitor, self.new_token = visitor, new_token
        self._ids: list[int] | None = None
        self._viewing: int | None = None  # the product whose page this is, once told (viewed)
        if visitor is not None and not visitor.new:
            catalog_cache.ride(_read_rider(visitor.key, self._read))
        else:
            self._ids = []

    @classmethod
    def for_request(cls, request: HttpRequest, *, give_guest_token: bool = False) -> RecentlyViewed:
        """The request's visitor; with `give_guest_token` a browser with neither a "Recently viewed"
        cookie nor a guest token gets the cookie (a token of its own, set on the response by
        `finish`), so its views are kept too. Not the cart's guest token: a browsing guest is not
        given a cart, and does not pay the header's cart count on every page."""
        token = browser_token(request)
        visitor = Visitor.of(user=request.user, guest_token=token)
        if visitor is None and give_guest_token and not is_crawler(request):  # crawlers get no list
            token = new_guest_token()
            return cls(Visitor(guest_list_key(token), new=True), new_token=token)
        return cls(visitor)

    def ids(self) -> list[int]:
        """The list's ids as read so far ([] before a lookup carried the read, or without a visitor)."""
        return list(self._ids or [])

    def _read(self, value) -> None:
        self._ids = [] if value is catalog_cache.FAILED else value
        # the product being viewed (when known already) is not shown in its own page's row
        catalog_cache.want_cards([i for i in self._ids if i != self._viewing])

    def viewed(self, product_id: int, *, instead_of: int | None = None) -> None:
        """Record the view of this product; `instead_of`: the id recorded for it earlier in this
        request was wrong (a page's slug now names another product) and is taken out again."""
        self._viewing = product_id
        if self.visitor is None:
            return
        if instead_of is not None:
            catalog_cache.ride(_forget_rider(self.visitor.key, {instead_of}))
        record_view(visitor=self.visitor, product_id=product_id)

    def cards(self, *, exclude: int | None = None) -> list[dict]:
        """Cards of the active products of the list, newest first, without `exclude`. Products no
        longer sold are dropped from the list (at the end of the request)."""
        if self._ids is None:  # no lookup carried the read yet
            catalog_cache.flush_riders()
        ids = [i for i in self._ids or [] if i != exclude]
        if not ids:
            return []
        cards = selectors.get_product_cards(product_ids=ids)
        if gone := set(ids) - {card["id"] for card in cards}:
            catalog_cache.ride(_forget_rider(self.visitor.key, gone))
        return cards

    def finish(self, response: HttpResponse) -> HttpResponse:
        if self.new_token is not None:
            response.set_cookie(RECENT_COOKIE, self.new_token, max_age=_ttl(), httponly=True, samesite="Lax",
                                secure=not settings.DEBUG)  # fmt: skip
        return response


def browser_token(request: HttpRequest) -> str | None:
    """Whose list a guest's browser keeps: its "Recently viewed" cookie, else its guest token
    (X-Guest-Token for apps, the cart's cookie)."""
    cookie = request.COOKIES.get(RECENT_COOKIE)
    return cookie if is_valid_guest_token(cookie) else guest_token_from_request(request)
