"""The catalog: a category tree, brands, products with flexible JSON attributes, and images."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from shop.email_addresses import EMAIL_MAX_LENGTH


class Category(models.Model):
    """A node of the category tree. A category page lists its own and its descendants' products."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    position = models.PositiveIntegerField(default=0)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:category", kwargs={"slug": self.slug})


class Brand(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=140, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField("SKU", max_length=64, unique=True)
    slug = models.SlugField(max_length=220, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, help_text="In the shop currency, taxes included.")
    compare_at_price = models.DecimalField(
        "was price",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Shown struck through when higher.",
    )
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    brand = models.ForeignKey(Brand, null=True, blank=True, on_delete=models.PROTECT, related_name="products")
    attributes = models.JSONField(default=dict, blank=True, help_text='Per-category facts, e.g. {"colour": "red"}.')
    is_active = models.BooleanField(default=True, help_text="Inactive products are hidden from the storefront.")
    popularity = models.FloatField(
        default=0, help_text="Recomputed hourly by recompute_popularity from what customers do (catalog/services/popularity.py).",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveBigIntegerField(
        default=1,
        editable=False,
        help_text="Raised by every catalog service that changes what customers see (not popularity); "
        "cache keys, card fragments and ETags follow it.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(
                condition=Q(compare_at_price__isnull=True) | Q(compare_at_price__gte=F("price")),
                name="product_was_price_not_below_price",
                violation_error_message="The was price must be at least the price.",
            ),
        ]
        indexes = [
            models.Index(fields=["category", "is_active", "-created_at"], name="product_listing_idx"),
            models.Index(fields=["category", "is_active", "-popularity"], name="product_popular_idx"),
            models.Index(fields=["category", "is_active", "price"], name="product_price_idx"),
            # a price range over every category (the search's browse without words, and its price sorts)
            models.Index(fields=["price"], condition=Q(is_active=True), name="product_active_price_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("catalog:product", kwargs={"slug": self.slug})

    def clean(self) -> None:
        self.attributes = normalize_attributes(self.attributes)

    @property
    def is_discounted(self) -> bool:
        return self.compare_at_price is not None and self.compare_at_price > self.price


def normalize_attributes(attributes: object) -> dict[str, str]:
    """Attributes as stored: keys lower case with underscores, every value text ({"Size": 42} ->
    {"size": "42"}), since attribute filters compare text. Raises ValidationError naming `attributes`."""
    if not isinstance(attributes, dict):
        raise ValidationError({"attributes": 'Enter an object such as {"colour": "Red"}.'})
    if any(isinstance(v, (dict, list)) or v is None for v in attributes.values()):
        raise ValidationError({"attributes": "Each attribute holds one value (text or a number)."})
    return {str(k).strip().lower().replace(" ", "_"): str(v) for k, v in attributes.items()}


class ImageStatus(models.TextChoices):
    PENDING = "pending", "Thumbnails pending"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


def _original_path(instance: ProductImage, filename: str) -> str:
    return f"products/{instance.product_id}/originals/{filename}"


class ProductImage(models.Model):
    """An uploaded picture of a product; a worker makes its WebP thumbnails after commit."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    original = models.ImageField(upload_to=_original_path, max_length=255)
    alt_text = models.CharField(max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)
    thumbnail_small = models.CharField(max_length=255, blank=True, help_text="Storage name of the ~320 px WebP.")
    thumbnail_large = models.CharField(max_length=255, blank=True, help_text="Storage name of the ~800 px WebP.")
    status = models.CharField(max_length=10, choices=ImageStatus.choices, default=ImageStatus.PENDING)
    failure_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.alt_text or f"Image {self.pk} of product {self.product_id}"


class ImageUpload(models.Model):
    """A picture a client sends straight to storage (S3 with a presigned POST): the key the shop
    chose for it, the limits it was given, and, once completed, the ProductImage it became."""

    id = models.UUIDField(primary_key=True, editable=False)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    requested_by = models.CharField(max_length=100, help_text="Who may complete it: user:<id> or apikey:<prefix>.")
    key = models.CharField(max_length=255, help_text="The storage name under the upload's own prefix.")
    content_type = models.CharField(max_length=50)
    max_bytes = models.PositiveBigIntegerField()
    alt_text = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(help_text="The presigned POST is refused by storage after this.")
    image = models.OneToOneField(
        ProductImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="upload",
        help_text="Set by the first complete: a second one returns this image.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"upload {self.pk} of product {self.product_id}"

    @property
    def prefix(self) -> str:
        return upload_prefix(self.product_id, self.pk)


def upload_prefix(product_id: int, upload_id) -> str:
    """The folder of one direct upload: the presigned policy allows keys under it only."""
    return f"products/{product_id}/uploads/{upload_id}/"


class ProductImportJob(models.Model):
    """A CSV import started from the admin: the file, what it did so far, and who started it.
    Only catalog.services.import_jobs writes it; the status page reads it."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"  # the file as a whole could not be read (a bad header, not UTF-8), or its worker stopped

    file = models.FileField(upload_to="catalog/imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    dry_run = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    rows_total = models.PositiveIntegerField(null=True, blank=True, help_text="Counted before the first batch.")
    rows_done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first error lines (row, column, reason).")
    message = models.TextField(blank=True, help_text="Why the whole file was refused, when it was.")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When the worker last showed progress (claimed the job or finished a batch)."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.original_name or self.file.name})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)


# --- What customers do: activity counts and the ranking's state (catalog/activity.py, services/popularity.py) ---


class ProductActivity(models.Model):
    """One day's counts of one product: page views (one per visitor per window), units added to
    carts, units bought, clicks from search results. Append-only, written only by the activity
    flush (`INSERT ... ON CONFLICT DO UPDATE` adding counts). On PostgreSQL the table is
    partitioned by day (one partition a day, created ahead and dropped whole by the ranking job);
    on SQLite it is a plain table."""

    pk = models.CompositePrimaryKey("day", "product_id")
    day = models.DateField()
    product_id = models.BigIntegerField()
    views = models.IntegerField(default=0)
    carts = models.IntegerField(default=0)
    purchases = models.IntegerField(default=0)
    clicks = models.IntegerField(default=0)

    class Meta:
        verbose_name_plural = "product activity"

    def __str__(self) -> str:
        return f"{self.day} product {self.product_id}"


class SearchActivity(models.Model):
    """One day's counts of one search query (normalised: lower case, single spaces, at most 100
    characters): how often it was searched, how often it found nothing, how often a result was
    opened from it. Partitioned by day on PostgreSQL, as ProductActivity."""

    pk = models.CompositePrimaryKey("day", "query")
    day = models.DateField()
    query = models.CharField(max_length=100)
    searches = models.IntegerField(default=0)
    zero_results = models.IntegerField(default=0)
    clicks = models.IntegerField(default=0)

    class Meta:
        verbose_name_plural = "search activity"

    def __str__(self) -> str:
        return f"{self.day} {self.query!r}"


class ActivityFlush(models.Model):
    """A batch of counts moved from Redis to the activity tables, recorded in the same transaction
    as its counts: a flush that died after committing and is run again finds its batch here and
    adds nothing twice."""

    batch = models.CharField(max_length=64, unique=True)
    flushed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.batch


class PopularityState(models.Model):
    """The ranking's one row: the epoch its decay is anchored to (scores are relative to that day,
    so a product without new activity keeps its score; the epoch moves, and every score is
    rescaled, only when the newest day's weight would pass POPULARITY_RESCALE_FACTOR) and what
    the last run did."""

    epoch = models.DateField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_changed = models.PositiveIntegerField(default=0, help_text="Products whose score the last run rewrote.")
    last_seconds = models.FloatField(default=0)

    def __str__(self) -> str:
        return f"popularity since {self.epoch}"
class StockAlert(models.Model):
    """A visitor's wish to be told once when a sold-out product is back in stock.

    Open while neither notified nor unsubscribed; one open subscription per product and address
    (the partial unique constraint), so subscribing twice is one subscription. A guest's (or an
    unverified account's) address is confirmed by an e-mailed link before anything else is sent
    to it; a signed-in customer with a verified address is confirmed at once. When the product is
    back, each confirmed open subscription gets one e-mail and is ended (`notified_at`): a later
    sell-out and restock tells nobody unless they subscribe again (a new row).
    """

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    email = models.CharField(max_length=EMAIL_MAX_LENGTH, help_text="In the shop's normal form (shop.email_addresses).")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True, help_text="When the address was confirmed.")
    notified_at = models.DateTimeField(null=True, blank=True, help_text="When the back-in-stock e-mail was due.")
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["product", "email"],
                condition=Q(notified_at__isnull=True, unsubscribed_at__isnull=True),
                name="stock_alert_one_open_per_address",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} for product {self.product_id}"

    @property
    def is_open(self) -> bool:
        return self.notified_at is None and self.unsubscribed_at is None


class StockAlertEmailKind(models.TextChoices):
    CONFIRM = "confirm", "Confirm the address"
    BACK_IN_STOCK = "back_in_stock", "Back in stock"


class StockAlertEmail(models.Model):
    """One e-mail of a subscription, claimed before it is sent (shop.email_claims): a redelivered
    message never sends it twice."""

    alert = models.ForeignKey(StockAlert, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=20, choices=StockAlertEmailKind.choices)
    claimed_at = models.DateTimeField(help_text="When a worker took it; an old claim may be taken again.")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Sent (or dropped: unsubscribed meanwhile).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "kind"], name="stock_alert_email_once")]

    def __str__(self) -> str:
        return f"{self.alert_id} {self.kind}"


class LowStockDigest(models.Model):
    """The staff's daily low-stock e-mail, one row per day, claimed before it is sent
    (shop.email_claims): a second run of the beat task that day sends nothing."""

    day = models.DateField(unique=True)
    claimed_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    products = models.PositiveIntegerField(default=0, help_text="How many products it listed.")
    recipients = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"low-stock digest {self.day}"
class ProductRecommendation(models.Model):
    """"Customers also bought": a product recommended on another's page, with its score and its
    place in that product's list (1 first). Written set-based only by
    catalog.services.replace_recommendations (the orders app computes them from its order lines);
    docs/catalog.md says how."""

    # no index of its own: the unique (product, ...) constraints lead with it
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+", db_index=False)
    recommended = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField(help_text="Bought together / bought either (Jaccard), 0 to 1.")
    rank = models.PositiveSmallIntegerField(help_text="1 for the first shown.")

    class Meta:
        ordering = ["product", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["product", "recommended"], name="recommendation_once"),
            # the product's list in rank order, read by one index range
            models.UniqueConstraint(fields=["product", "rank"], name="recommendation_rank_once"),
            models.CheckConstraint(condition=~Q(product=F("recommended")), name="recommendation_not_itself"),
            models.CheckConstraint(condition=Q(rank__gte=1), name="recommendation_rank_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.recommended_id} for {self.product_id} (#{self.rank})"
