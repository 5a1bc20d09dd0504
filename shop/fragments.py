"""Parts of a storefront page rendered once and served again while what they show is unchanged.

`{% memo value... %}...{% endmemo %}` (shop/templatetags/storefront.py) keys its part by the
values it names (the data the part shows: a product's page data with its availability, a
listing with its cards, the header's user and cart count) plus what every part depends on (the
script prefix, URLconf, language, shop name and currency). The key is the data itself, frozen
into a tuple, so a changed price, stock figure or cart count is a different key: nothing is
invalidated, nothing can be served stale. Kept in the process (an LRU bounded in bytes).

CSRF tokens are the one personal value a shared part may carry (its forms): the part is
rendered with a placeholder in place of the token and the visitor's own token is put in on every
request, which also sets the CSRF cookie as rendering `{% csrf_token %}` does.

`FRAGMENT_CHECK` (on in the tests) renders the part on every hit too and raises if it differs
from the kept one: a value the part shows but its key does not name is found by the whole suite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import itertools
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf
from django.utils import translation
from django.utils.functional import Promise
from django.utils.safestring import SafeString


class _Key(tuple):
    """A part's key with its hash worked out once, when it is made (a key holds the data the part
    shows: hashing it again for each look-up would cost as much as freezing it)."""

    def __init__(self, _values) -> None:
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


MAX_BYTES = 48_000_000  # per process, keys included; the least recently used parts go first
# Put where a part's CSRF token goes, and replaced per request: random per process, so no visitor
# can type it (into a search, a link's query) to have their own token written there.
CSRF_PLACEHOLDER = f"csrf-placeholder-{secrets.token_hex(16)}"

_parts: OrderedDict[_Key, str] = OrderedDict()
_size = 0
_lock = threading.Lock()
_places = itertools.count()  # one number per part compiled in this process, never reused

# Values that equal only values which render the same (1 == 1.0 == Decimal("1.00") == True do
# not: numbers other than int are keyed with their type and text).
_PLAIN = frozenset({str, int, type(None), datetime.date, datetime.datetime, datetime.time, datetime.timedelta, UUID})
_FIELDS: dict[type, tuple[str, ...] | bool] = {}  # a dataclass's field names by class (False: not one)


class FragmentCheckFailed(AssertionError):
    """A kept part differs from a fresh rendering: its key misses a value it shows."""


def frozen(value):
    """`value` as a hashable key that differs whenever its rendering can: dicts, lists, tuples,
    sets and dataclasses by their contents, True apart from 1, 1.0 or Decimal("1.00"), a safe
    string apart from a plain one. Anything else (a form, a model instance) is refused: name the
    fields it shows instead."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    # a page's data is mostly dicts and lists of plain values: those are kept as they are without
    # a call each (a product page's key is some 200 values)
    if kind is dict:
        return (dict, *[(k if type(k) is str else frozen(k), v if type(v) in _PLAIN else frozen(v))
                        for k, v in value.items()])  # fmt: skip
    if kind is list or kind is tuple:
        return (kind, *[v if type(v) in _PLAIN else frozen(v) for v in value])
    if kind is bool or kind is float or kind is Decimal:
        return (kind, str(value))
    if (names := _FIELDS.get(kind)) is None:
        names = _FIELDS[kind] = (
            tuple(f.name for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else False
        )
    if names is not False:
        return (kind, *[frozen(getattr(value, name)) for name in names])
    if kind is set or kind is frozenset:
        return (frozenset, frozenset(map(frozen, value)))
    if isinstance(value, SafeString):
        return (SafeString, str(value))
    if isinstance(value, Promise):  # a lazy translation
        return str(value)
    if isinstance(value, (str, int)):  # an enum's member (TextChoices) renders as its value
        return (kind, value)
    if isinstance(value, dict):  # OrderedDict, defaultdict
        return (kind, *((frozen(k), frozen(v)) for k, v in value.items()))
    if isinstance(value, tuple):  # a named tuple
        return (kind, *map(frozen, value))
    if kind is range:
        return (range, value.start, value.stop, value.step)
    raise TypeError(f"a page part cannot be keyed by a {kind.__name__}: name the values it shows")


def new_place() -> int:
    """A number for a part's template node: what tells two parts with the same values apart (the
    token's position in its template is known only to the debug lexer, and a node's id() is
    reused once a template is collected)."""
    return next(_places)


def rendered_once(key: tuple, context, render: Callable[[], str], *, check: bool = True) -> str:
    """The part under `key` (its place and frozen values), rendered by `render()` the first time,
    with the request's CSRF token put in. `check=False` for a part keyed by a version rather
    than by its data (product cards), which FRAGMENT_CHECK cannot hold to its data."""
    token = context.get("csrf_token")
    # the request's token is lazy: looking at it would set the CSRF cookie on a page without a form
    has_token = token is not None and not (type(token) is str and token == "NOTPROVIDED")  # noqa: S105
    key = _Key((*key, has_token, *_environment(context)))
    html = _parts.get(key)
    if html is None or (check and settings.FRAGMENT_CHECK):
        fresh = _render_with_placeholder(context, render) if has_token else render()
        if html is not None and html != fresh:
            raise FragmentCheckFailed(f"a kept page part differs from its fresh rendering; key {key!r}")
        if html is None:
            _keep(key, fresh)
        html = fresh
    else:
        with _lock, contextlib.suppress(KeyError):  # gone meanwhile: nothing to move
            _parts.move_to_end(key)
    if has_token and CSRF_PLACEHOLDER in html:
        html = html.replace(CSRF_PLACEHOLDER, str(token))  # str() of the lazy token sets the cookie
    return SafeString(html)


def _environment(context) -> tuple:
    """What every part depends on beside its values: read once per rendering (a page's parts and
    the templates it includes share its context), not once per part; the language alone is an
    asgiref look-up of about 3 microseconds. A part inside `{% language %}` (none in this shop)
    would have to name the language among its values."""
    environment = getattr(context, "_fragment_environment", None)
    if environment is None:
        environment = context._fragment_environment = (
            get_script_prefix(), get_urlconf(), translation.get_language(), context.get("SHOP_NAME"),
            context.get("SHOP_CURRENCY"),
        )  # fmt: skip
    return environment


def clear() -> None:
    global _size
    with _lock:
        _parts.clear()
        _size = 0


def _render_with_placeholder(context, render: Callable[[], str]) -> str:
    with context.push(csrf_token=CSRF_PLACEHOLDER):
        return render()


def _cost(html: str) -> int:
    """Bytes a kept part takes, counted as twice its HTML's (one byte a character for ASCII, two
    beyond, as Python keeps text): the key holds about the data the HTML shows."""
    return 2 * (64 + len(html) * (1 if html.isascii() else 2))


def _keep(key: _Key, html: str) -> None:
    global _size
    with _lock:
        if key in _parts:
            return
        _parts[key] = html
        _size += _cost(html)
        while _size > MAX_BYTES and _parts:
            _size -= _cost(_parts.popitem(last=False)[1])
