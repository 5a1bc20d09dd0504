"""Every write of the catalog, split by sub-domain; callers keep writing `catalog.services.<name>`."""

from catalog.services.demo import DEMO_CATEGORIES, DemoCatalogResult, load_demo_catalog
from catalog.services.images import (
    ProductImageNotFound,
    add_product_image,
    image_urls,
    make_thumbnails,
    requeue_pending_thumbnails,
    schedule_thumbnails_for_new_originals,
    thumbnail_name,
)
from catalog.services.pricing import update_product_price
from catalog.services.products import (
    move_products_to_category,
    refresh_products_named_after,
    schedule_product_invalidation,
    set_products_active,
)

__all__ = [
    "DEMO_CATEGORIES",
    "DemoCatalogResult",
    "ProductImageNotFound",
    "add_product_image",
    "image_urls",
    "load_demo_catalog",
    "make_thumbnails",
    "move_products_to_category",
    "refresh_products_named_after",
    "requeue_pending_thumbnails",
    "schedule_product_invalidation",
    "schedule_thumbnails_for_new_originals",
    "set_products_active",
    "thumbnail_name",
    "update_product_price",
]
