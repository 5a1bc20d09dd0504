"""Every write of the catalog, split by sub-domain; callers keep writing `catalog.services.<name>`."""

from catalog.activity import count_cart_add, count_purchases
from catalog.services.demo import DEMO_CATEGORIES, DemoCatalogResult, load_demo_activity, load_demo_catalog
from catalog.services.editing import ProductVersionMismatch, create_product, update_product
from catalog.services.images import (
    ProductImageNotFound,
    add_product_image,
    image_urls,
    make_thumbnails,
    requeue_pending_thumbnails,
    schedule_thumbnails_for_new_originals,
    thumbnail_name,
)
from catalog.services.import_jobs import run_product_import, start_product_import, sweep_stale_import_jobs
from catalog.services.importing import (
    IMPORT_BATCH_SIZE,
    ImportResult,
    ImportRow,
    RowError,
    import_product_file,
    import_product_rows,
)
from catalog.services.pricing import update_product_price
from catalog.services.product_values import WRITABLE_FIELDS, Lookups, clean_product_values
from catalog.services.products import (
    move_products_to_category,
    refresh_products_named_after,
    schedule_product_invalidation,
    schedule_products_invalidation,
    set_products_active,
)
from catalog.services.recommendations import replace_recommendations
from catalog.services.uploads import (
    ImageUploadExpired,
    ImageUploadMissing,
    ImageUploadNotFound,
    ImageUploadRefused,
    UploadTicket,
    complete_image_upload,
    configure_bucket_cors,
    direct_uploads_go_to_s3,
    start_image_upload,
    store_direct_upload,
    sweep_abandoned_uploads,
)

__all__ = [
    "DEMO_CATEGORIES",
    "IMPORT_BATCH_SIZE",
    "WRITABLE_FIELDS",
    "DemoCatalogResult",
    "ImageUploadExpired",
    "ImageUploadMissing",
    "ImageUploadNotFound",
    "ImageUploadRefused",
    "ImportResult",
    "ImportRow",
    "Lookups",
    "ProductImageNotFound",
    "ProductVersionMismatch",
    "RowError",
    "UploadTicket",
    "add_product_image",
    "clean_product_values",
    "complete_image_upload",
    "configure_bucket_cors",
    "count_cart_add",
    "count_purchases",
    "create_product",
    "direct_uploads_go_to_s3",
    "image_urls",
    "import_product_file",
    "import_product_rows",
    "load_demo_activity",
    "load_demo_catalog",
    "make_thumbnails",
    "move_products_to_category",
    "refresh_products_named_after",
    "replace_recommendations",
    "requeue_pending_thumbnails",
    "run_product_import",
    "schedule_product_invalidation",
    "schedule_products_invalidation",
    "schedule_thumbnails_for_new_originals",
    "set_products_active",
    "start_image_upload",
    "start_product_import",
    "store_direct_upload",
    "sweep_abandoned_uploads",
    "sweep_stale_import_jobs",
    "thumbnail_name",
    "update_product",
    "update_product_price",
]
