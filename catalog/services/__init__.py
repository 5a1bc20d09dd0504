"""Every write of the catalog, split by sub-domain; callers keep writing `catalog.services.<name>`."""

from catalog.services.demo import DEMO_CATEGORIES, DemoCatalogResult, load_demo_catalog

__all__ = ["DEMO_CATEGORIES", "DemoCatalogResult", "load_demo_catalog"]
