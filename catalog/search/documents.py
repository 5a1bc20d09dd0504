"""The Elasticsearch document of a product (django-elasticsearch-dsl), imported only by the
Elasticsearch backend.

Each document carries a mini description (title, brand, category path, price, image URL,
popularity: the product card) so a result page renders without a database read, plus what the
query, filters, facets and sorts need. English analysis for words, an edge-n-gram sub-field of
the title for search as you type, an unstemmed sub-field for "did you mean". Documents are routed
by their top-level category, so a search inside one category asks one shard.

django-elasticsearch-dsl's own signal sync is off (ELASTICSEARCH_DSL_AUTOSYNC=False): the
catalog's index task writes documents after commit.
"""

from __future__ import annotations

from django.conf import settings
from django_elasticsearch_dsl import Document, fields
from django_elasticsearch_dsl.registries import registry
from elasticsearch.dsl import MetaField, analyzer, normalizer, token_filter

from catalog.models import Product

edge_ngram = token_filter("shop_edge_ngram", type="edge_ngram", min_gram=2, max_gram=20)
autocomplete = analyzer("shop_autocomplete", tokenizer="standard", filter=["lowercase", "asciifolding", edge_ngram])
autocomplete_search = analyzer("shop_autocomplete_search", tokenizer="standard", filter=["lowercase", "asciifolding"])
lowercase = normalizer("shop_lowercase", filter=["lowercase", "asciifolding"])

INDEX_SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}


def index_alias() -> str:
    """The alias searches and index writes go to; `search_reindex` points it at a new index."""
    return getattr(settings, "ELASTICSEARCH_INDEX", "shop-products")


@registry.register_document
class ProductDocument(Document):
    id = fields.LongField()
    title = fields.TextField(
        analyzer="english",
        fields={
            "plain": fields.TextField(analyzer="standard"),
            "autocomplete": fields.TextField(analyzer=autocomplete, search_analyzer=autocomplete_search),
            "exact": fields.KeywordField(normalizer=lowercase),
        },
    )
    brand = fields.TextField(
        analyzer="english", fields={"plain": fields.TextField(analyzer="standard"), "raw": fields.KeywordField()}
    )
    brand_slug = fields.KeywordField()
    description = fields.TextField(analyzer="english")
    category_id = fields.LongField()
    category_path = fields.TextField(analyzer="english")  # "Electronics > Phones"
    attribute_values = fields.TextField(analyzer="english", multi=True)
    attributes = fields.KeywordField(multi=True)  # "colour=Black": filters and facets
    price = fields.ScaledFloatField(scaling_factor=100)
    popularity = fields.FloatField()
    created_at = fields.DateField()
    in_stock = fields.BooleanField()
    card = fields.ObjectField(enabled=False)  # the rendered card: stored, never searched

    class Index:
        name = index_alias()
        settings = INDEX_SETTINGS

    class Django:
        model = Product
        ignore_signals = True  # the catalog's index task writes documents, after commit
        auto_refresh = False
        queryset_pagination = 2000

    class Meta:
        routing = MetaField(required=True)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # django-elasticsearch-dsl 9 sets this attribute with a plain assignment, which the
        # elasticsearch 9 Document stores as document data instead; set it on the object itself.
        object.__setattr__(self, "_prepared_fields", self.init_prepare())

    def get_queryset(self):
        return Product.objects.filter(is_active=True).select_related("brand", "category__parent").order_by("pk")

    # Every prepare_* reads only what get_queryset loaded.

    def prepare_id(self, product: Product) -> int:
        return product.pk

    def prepare_title(self, product: Product) -> str:
        return product.title

    def prepare_brand(self, product: Product) -> str:
        return product.brand.name if product.brand_id else ""

    def prepare_brand_slug(self, product: Product) -> str | None:
        return product.brand.slug if product.brand_id else None

    def prepare_description(self, product: Product) -> str:
        return product.description

    def prepare_category_id(self, product: Product) -> int:
        return product.category_id

    def prepare_category_path(self, product: Product) -> str:
        return " > ".join(c.name for c in reversed(_category_trail(product)))

    def prepare_attribute_values(self, product: Product) -> list[str]:
        return [str(v) for v in product.attributes.values()]

    def prepare_attributes(self, product: Product) -> list[str]:
        return [f"{k}={v}" for k, v in sorted(product.attributes.items())]

    def prepare_price(self, product: Product) -> float:
        return float(product.price)

    def prepare_popularity(self, product: Product) -> float:
        return float(product.popularity)

    def prepare_created_at(self, product: Product):
        return product.created_at

    # The backend sets these two on each product of a batch (one query each for the whole batch).

    def prepare_in_stock(self, product: Product) -> bool:
        return bool(getattr(product, "search_in_stock", False))

    def prepare_card(self, product: Product) -> dict | None:
        return getattr(product, "search_card", None)

    @staticmethod
    def routing(product: Product) -> str:
        return str(_category_trail(product)[-1].pk)  # the top-level category

    def _prepare_action(self, object_instance: Product, action: str) -> dict:
        return {**super()._prepare_action(object_instance, action), "_routing": self.routing(object_instance)}


def _category_trail(product: Product) -> list:
    """The product's category, its parent, ... up to the root (two levels loaded, more read)."""
    trail, current = [], product.category
    while current is not None and len(trail) < 10:
        trail.append(current)
        current = current.parent
    return trail
