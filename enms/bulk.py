"""Bulk writes at the speed of the database: COPY on PostgreSQL, batched INSERT elsewhere."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


def bulk_insert(objs: Sequence[Model], *, batch_size: int = 5000) -> Sequence[Model]:
    """Insert unsaved model instances (primary keys already set, e.g. UUIDs) in one statement.

    On PostgreSQL the rows stream through `COPY ... FROM STDIN`, several times faster than a
    multi-row INSERT for large batches; constraints and foreign keys are checked as usual, and
    the caller's transaction makes it all or nothing. Other databases use `bulk_create`.
    """
    if not objs:
        return objs
    model = type(objs[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objs, batch_size=batch_size)
        return objs
    from psycopg.types.json import Jsonb

    fields = list(model._meta.concrete_fields)
    quote = connection.ops.quote_name
    sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    # psycopg adapts plain Python values (numbers, str, bool, UUID, aware datetimes) itself; going
    # through Django's per-field preparation would cost more than the COPY. JSON needs wrapping,
    # auto-now fields their pre_save.
    getters = []
    for f in fields:
        if f.get_internal_type() == "JSONField":
            getters.append(lambda obj, a=f.attname: None if getattr(obj, a) is None else Jsonb(getattr(obj, a)))
        elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            getters.append(lambda obj, f=f: f.pre_save(obj, True))
        elif f.get_internal_type() in ("BinaryField",):
            getters.append(lambda obj, f=f: f.get_db_prep_save(getattr(obj, f.attname), connection))
        else:
            getters.append(lambda obj, a=f.attname: getattr(obj, a))
    # The raw psycopg COPY bypasses Django's cursor wrapper: map its errors to django.db ones so a
    # lost connection is the usual OperationalError (a 503), not an unknown exception (a 500).
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row([get(obj) for get in getters])
    return objs
