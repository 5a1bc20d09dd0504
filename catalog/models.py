"""The catalog: a category tree, brands, products with flexible JSON attributes, and images."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse


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
    popularity = models.FloatField(default=0, help_text="Recomputed on a schedule from recent orders and views.")
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
            # a price range over every category (search): ANDed with the text index's bitmap
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
        FAILED = "failed"  # the file as a whole could not be read (a bad header, not UTF-8)

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
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.original_name or self.file.name})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)


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
