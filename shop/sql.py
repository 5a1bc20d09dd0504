"""The two things every hand-written statement needs: quoted names and prepared timestamps.

Raw SQL is kept for what the ORM cannot say in one statement (UPDATE ... RETURNING, UPDATE ...
FROM (VALUES ...), INSERT ... ON CONFLICT DO NOTHING RETURNING); identifiers always come from
the models' meta and every value is a parameter.
"""

from __future__ import annotations

from django.db import models, transaction
from django.utils import timezone


def quoted(model: type[models.Model], *field_names: str, using: str | None = None) -> tuple[str, list[str]]:
    """The model's table and these fields' columns, quoted for the current connection (or `using`)."""
    quote = transaction.get_connection(using).ops.quote_name
    return quote(model._meta.db_table), [quote(model._meta.get_field(name).column) for name in field_names]


def now_for(model: type[models.Model], field_name: str) -> object:
    """timezone.now() as a parameter for this date-time field on the current connection."""
    return model._meta.get_field(field_name).get_db_prep_value(timezone.now(), transaction.get_connection())
