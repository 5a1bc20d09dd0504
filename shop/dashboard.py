"""The staff dashboard on the admin's index page: blocks of figures that the apps register.

shop/ imports no app (.importlinter): each app that owns figures has a `dashboard.py` that calls
`register(Block(...))` (discovered at start-up, as `metrics.py` is), and its block reads that
app's own selectors. A block shows only to staff holding its permission, so a Support agent
never sees revenue unless a group gives them `orders.view_revenue`.

Each block's `figures(now=..., memo=...)` returns the context of its template; `now` is passed in
so the figures are the same for every block of one page (and tests give a fixed one), and `memo`
is a dict fresh for each page, where blocks of one app share what they read (one query, not two).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from shop.models import DeadLetter


@dataclass(frozen=True)
class Block:
    key: str  # unique, used as its HTML id
    title: str
    permission: str  # "app_label.codename"
    template: str
    figures: Callable[..., dict]  # figures(now=datetime, memo=dict) -> the template's context
    order: int = 100  # lower first


_BLOCKS: dict[str, Block] = {}


def register(block: Block) -> None:
    """Add (or replace, on a reload) a block of the dashboard."""
    _BLOCKS[block.key] = block


def blocks_for(user) -> list[Block]:
    """The blocks this staff member may see, in their order."""
    return sorted((b for b in _BLOCKS.values() if user.has_perm(b.permission)), key=lambda b: (b.order, b.key))


def render_dashboard(user, *, now: datetime | None = None) -> SafeString:
    """The blocks this user may see, rendered (nothing at all for someone who may see none)."""
    now, memo = now or timezone.now(), {}
    parts = [
        render_to_string(block.template, {"block": block, **block.figures(now=now, memo=memo)})
        for block in blocks_for(user)
    ]
    return mark_safe("".join(parts))  # noqa: S308  (each part is a rendered, auto-escaped template)


# --- The platform's own block: tasks that failed for good ---------------------------------------------


def _dead_letter_figures(*, now: datetime, memo: dict) -> dict:
    return {"waiting": DeadLetter.objects.filter(retried_at=None).count(),
            "url": reverse("admin:shop_deadletter_changelist") + "?retried_at__isempty=1"}  # fmt: skip


register(Block("dead_letters", "Dead letters", "shop.view_deadletter", "shop/dashboard/dead_letters.html",
               _dead_letter_figures, order=40))  # fmt: skip
