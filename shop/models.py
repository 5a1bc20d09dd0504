"""The API platform's own tables: idempotency keys and machine-client API keys."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

# What a machine client may be allowed to call. Endpoints name the scope they need.
API_KEY_SCOPES = {
    "stock:write": "Seller systems: send stock updates",
    "orders:read": "Warehouse systems: read orders to fulfil",
    "catalog:write": "Seller and catalog systems: create and change products",
    "orders:fulfil": "Warehouse systems: mark orders shipped (captures the payment) and delivered",
}


class IdempotencyKey(models.Model):
    """One unsafe API request (or storefront form submission) by one client, remembered for a day.

    Inserted inside the creating service's transaction, so the key and what it created commit
    together; a replay finds `result_ref` and returns the same object.
    """

    scope = models.CharField(max_length=100, help_text="Who sent it: user:<id>, guest:<token hash>, apikey:<prefix>.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    result_ref = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_key_unique_per_client")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class ClientAPIKeyManager(BaseAPIKeyManager):
    def get_usable_keys(self) -> models.QuerySet:
        """Neither revoked nor expired. The library's ``get_from_key`` checks only revocation;
        every endpoint that takes a key looks it up through here, so expiry applies everywhere."""
        return super().get_usable_keys().filter(Q(expiry_date__isnull=True) | Q(expiry_date__gt=timezone.now()))


class ClientAPIKey(AbstractAPIKey):
    """An API key for a seller or warehouse system, limited to the scopes it was given."""

    objects = ClientAPIKeyManager()
    scopes = models.JSONField(default=list, help_text=f"Any of: {', '.join(API_KEY_SCOPES)}.")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "client API key"
        verbose_name_plural = "client API keys"

    def clean(self) -> None:
        super().clean()
        unknown = [s for s in self.scopes if s not in API_KEY_SCOPES] if isinstance(self.scopes, list) else ["?"]
        if unknown:
            raise ValidationError({"scopes": f"Unknown scopes: {', '.join(map(str, unknown))}."})


class OutboxMessage(models.Model):
    """A message between apps that must not be lost, written in the same transaction as the change
    it announces; sent after commit, and re-sent by the relay until the broker has taken it."""

    topic = models.CharField(max_length=100)
    key = models.CharField(max_length=100, help_text="What it is about (an order number ...).")
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A relay is sending it until then; past it, another relay may."
    )
    # Who caused it, so whoever sends it later puts them in the task's headers (observability).
    request_id = models.CharField(max_length=64, blank=True, help_text="X-Request-ID of the request that wrote it.")
    trace_context = models.JSONField(
        default=dict, blank=True, help_text="W3C trace context (traceparent) it was written in."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"], name="outbox_pending_idx", condition=models.Q(dispatched_at__isnull=True)
            ),
            # The retention purge walks sent messages oldest first.
            models.Index(
                fields=["dispatched_at"], name="outbox_dispatched_idx", condition=models.Q(dispatched_at__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.key}"


class DeadLetter(models.Model):
    """A task that failed past its retries: what it was asked to do and why it failed.

    Staff retry it from admin once the cause is fixed (tasks are idempotent, so a retry of
    something that half-happened is safe).
    """

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=255, blank=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500)
    traceback = models.TextField(blank=True)
    failed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    retried_at = models.DateTimeField(null=True, blank=True)
    retried_task_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-failed_at", "-id"]
        permissions = [("retry_deadletter", "Can retry failed tasks")]

    def __str__(self) -> str:
        return f"{self.task_name} failed at {self.failed_at:%Y-%m-%d %H:%M:%S}"
