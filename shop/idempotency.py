"""Idempotent creation: the same request sent twice creates one thing (STYLE.md section 10).

A door (API view, storefront form) builds an `IdempotencyRequest` from the client's key and a
fingerprint of its request; the creating service calls `claim()` first thing inside its own
transaction and `complete()` once it has created its object:

    with transaction.atomic(durable=True):
        if (ref := idempotency.claim(request)) is not None:
            return load(ref), False            # a replay: the same object, 200 instead of 201
        obj = create(...)
        idempotency.complete(request, obj)
        return obj, True

The key row and the object commit together. A concurrent duplicate waits on the unique index
until the first commits, then replays; if the first rolls back, the second creates.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from django.db import models, transaction
from django.utils import timezone

from shop.exceptions import DomainError
from shop.guest import guest_scope
from shop.models import IdempotencyKey
from shop.sql import now_for, quoted

KEY_LIFETIME = timedelta(hours=24)
T = TypeVar("T")


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status_code = 422
    default_message = "This Idempotency-Key was already used with a different request."

    def __init__(self) -> None:
        super().__init__(fields={"Idempotency-Key": [self.default_message]})


@dataclass(frozen=True)
class IdempotencyRequest:
    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Created(Generic[T]):
    """What a creating service returns: the object, and False when an earlier request made it."""

    value: T
    created: bool


def scope_for(*, user=None, guest_token: str | None = None) -> str | None:
    """Whose key it is: the signed-in customer, else the guest token's holder; None for neither."""
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    if guest_token:
        return guest_scope(guest_token)
    return None


def fingerprint(*, method: str, path: str, body: object) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def result_ref(obj: models.Model) -> str:
    return f"{obj._meta.label_lower}:{obj.pk}"


def referenced_pk(ref: str) -> int:
    """The primary key in a reference made by result_ref()."""
    return int(ref.rsplit(":", 1)[1])


def claim(request: IdempotencyRequest | None) -> str | None:
    """Record the key; return the earlier result's reference when this is a replay, else None.

    Needs the caller's open transaction. Raises IdempotencyKeyReused for the same key with
    another request. No key (None) means no deduplication.
    """
    assert transaction.get_connection().in_atomic_block, "claim() runs inside the creating service's transaction"
    if request is None:
        return None
    if _insert_or_ignore(request):
        return None
    existing = IdempotencyKey.objects.get(scope=request.scope, key=request.key)
    if existing.fingerprint != request.fingerprint:
        raise IdempotencyKeyReused()
    return existing.result_ref


def lookup(request: IdempotencyRequest | None) -> str | None:
    """Read-only: the earlier result's reference when this request was made and completed before,
    else None (no key, a new key, or one whose first request has not committed yet). For a service
    that must recognise a replay before it calls out of process (a gateway): it still claims the
    key with claim() in its own transaction. Raises IdempotencyKeyReused for another request."""
    if request is None:
        return None
    existing = IdempotencyKey.objects.filter(scope=request.scope, key=request.key).first()
    if existing is None or not existing.result_ref:
        return None
    if existing.fingerprint != request.fingerprint:
        raise IdempotencyKeyReused()
    return existing.result_ref


def _insert_or_ignore(request: IdempotencyRequest) -> bool:
    """Insert the key in one statement (no savepoint); False when it exists already. A concurrent
    insert of the same key makes this wait until that transaction ends (the unique index)."""
    table, columns = quoted(IdempotencyKey, "scope", "key", "fingerprint", "result_ref", "created_at", "id")
    sql = (
        f"INSERT INTO {table} ({', '.join(columns[:5])}) VALUES (%s, %s, %s, %s, %s) "  # noqa: S608
        f"ON CONFLICT ({columns[0]}, {columns[1]}) DO NOTHING RETURNING {columns[5]}"
    )
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, [request.scope, request.key, request.fingerprint, "", now_for(IdempotencyKey, "created_at")])
        return cursor.fetchone() is not None


def complete(request: IdempotencyRequest | None, obj: models.Model) -> None:
    """Remember what the first request created (same transaction as claim())."""
    if request is not None:
        IdempotencyKey.objects.filter(scope=request.scope, key=request.key).update(result_ref=result_ref(obj))


def purge_expired() -> int:
    """Delete keys older than KEY_LIFETIME; returns how many went."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=timezone.now() - KEY_LIFETIME).delete()
    return deleted
