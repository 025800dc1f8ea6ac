"""COPY many rows into a model's table, every column named by the model."""

from collections.abc import Iterable
from itertools import chain

from django.db import connection
from django.db.models.fields import AutoFieldMixin


def copy_rows(model, rows: Iterable[dict]) -> int:
    """COPY ``rows`` into ``model``'s table on PostgreSQL; return how many.

    Each row gives the same fields by attname (``submission_id``,
    ``content``); every other concrete field takes the value ``Model()``
    would save (its default, ``auto_now_add``'s now, "" for a text field).
    The columns come from ``model._meta``, not from a list written here, so
    a column a later migration adds is filled too; a NOT NULL field with no
    default that the rows do not give fails here, by name.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, AutoFieldMixin)]
    given = [f for f in fields if f.attname in first]
    template = model()
    defaults = {f: f.pre_save(template, add=True) for f in fields if f not in given}
    missing = [f.name for f, value in defaults.items() if value is None and not f.null]
    if missing:
        raise ValueError(f"{model.__name__} rows must give {', '.join(missing)}: no default")
    fixed = [f.get_db_prep_save(value, connection) for f, value in defaults.items()]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in [*given, *defaults])
    count = 0
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
        for row in chain([first], rows):
            copy.write_row([*(f.get_db_prep_save(row[f.attname], connection) for f in given), *fixed])
            count += 1
    return count
