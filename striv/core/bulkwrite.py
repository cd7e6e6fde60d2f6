"""Set-based updates: many rows, each with its own values, written with one statement per chunk.

Django's ``bulk_update`` writes ``SET col = CASE WHEN pk = .. THEN .. END`` for every column, a statement that grows
with the batch and that the database evaluates row by row against every branch; on a re-render of thousands of jobs
it was most of the time. ``rows_update`` joins the table to the rows instead: ``UPDATE .. FROM (VALUES ..)`` on
PostgreSQL, ``UPDATE .. JOIN (SELECT .. UNION ALL ..)`` on MariaDB/MySQL, and one prepared ``UPDATE`` bound to
every row (``executemany``) on SQLite, where a statement costs no round trip. Values are prepared by each field
(``get_db_prep_save``), as ``bulk_update`` prepares them, so both write the same; ``tests/core/test_bulkwrite.py``
checks that on every database.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, cast

from django.db import connections, models, router, transaction

logger = logging.getLogger(__name__)

# Rows per statement: a few hundred keeps a statement of specs well under MariaDB's 16 MB packet limit.
CHUNK_ROWS = 500


def rows_update(
    model: type[models.Model],
    objs: Sequence[models.Model],
    fields: Sequence[str],
    *,
    same: Sequence[str] = (),
    differ: Sequence[str] = (),
    exclude: Mapping[str, Any] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> None:
    """Write ``fields`` of each of ``objs`` to its row (found by primary key), one statement per ``chunk_rows``.

    A row is written only where the columns in ``same`` still hold the object's values, the columns in ``differ``
    no longer do, and no column in ``exclude`` holds the value given there (a conditional write, like
    ``filter(pk=.., **same).exclude(**exclude).update(..)`` per object). Unlike ``save()``, no ``auto_now`` field
    is touched unless it is listed. Returns nothing; raises what the database raises.
    """
    if not objs or not fields:
        return
    meta = model._meta
    using = router.db_for_write(model)
    connection = connections[using]

    def field(name: str) -> models.Field:
        return cast(models.Field, meta.get_field(name))

    set_fields = [field(name) for name in fields]
    columns = [meta.pk, *set_fields, *(field(name) for name in (*same, *differ))]
    rows = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in columns] for obj in objs]
    excluded = [
        (field(name), field(name).get_db_prep_save(value, connection)) for name, value in (exclude or {}).items()
    ]
    statement = _Statement(connection, meta.db_table, columns, set_fields, same, differ, excluded)
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        for start in range(0, len(rows), chunk_rows):
            chunk = rows[start : start + chunk_rows]
            if connection.vendor == "sqlite":
                cursor.executemany(statement.sqlite, [statement.sqlite_params(row) for row in chunk])
            else:
                sql, params = statement.joined(len(chunk), chunk)
                cursor.execute(sql, params)


class _Statement:
    """The SQL of one ``rows_update`` for one database: a per-row form (SQLite) and a joined form (the others)."""

    def __init__(
        self,
        connection: Any,
        table: str,
        columns: list[Any],
        set_fields: list[Any],
        same: Sequence[str],
        differ: Sequence[str],
        excluded: list[tuple[Any, Any]],
    ) -> None:
        self.connection = connection
        quote = connection.ops.quote_name
        self.quote = quote
        self.table = quote(table)
        self.columns = columns
        self.set_fields = set_fields
        n_set = len(set_fields)
        self.same = columns[1 + n_set : 1 + n_set + len(same)]
        self.differ = columns[1 + n_set + len(same) :]
        self.excluded = excluded
        pk = quote(columns[0].column)
        # SQLite: the row's own values as parameters, in the order of the placeholders below.
        where = [f"{pk} = %s"]
        where += [f"{quote(f.column)} = %s" for f in self.same]
        where += [f"{quote(f.column)} <> %s" for f in self.differ]
        where += [f"{quote(f.column)} <> %s" for f, _ in excluded]
        sets = ", ".join(f"{quote(f.column)} = %s" for f in set_fields)
        self.sqlite = f"UPDATE {self.table} SET {sets} WHERE {' AND '.join(where)}"

    def sqlite_params(self, row: list) -> list:
        n_set = len(self.set_fields)
        return [*row[1 : 1 + n_set], row[0], *row[1 + n_set :], *(value for _, value in self.excluded)]

    def _conditions(self, target: str, source: str) -> tuple[list[str], list]:
        quote = self.quote
        names = self._names()
        conditions = [f"{target}.{quote(self.columns[0].column)} = {source}.{names[0]}"]
        offset = 1 + len(self.set_fields)
        for i, f in enumerate(self.same):
            conditions.append(f"{target}.{quote(f.column)} = {source}.{names[offset + i]}")
        offset += len(self.same)
        for i, f in enumerate(self.differ):
            conditions.append(f"{target}.{quote(f.column)} <> {source}.{names[offset + i]}")
        conditions += [f"{target}.{quote(f.column)} <> %s" for f, _ in self.excluded]
        return conditions, [value for _, value in self.excluded]

    def _names(self) -> list[str]:
        # Column names of the joined rows: c0 (the key), then one per column, never clashing with the table's.
        return [self.quote(f"c{i}") for i in range(len(self.columns))]

    def joined(self, count: int, chunk: list[list]) -> tuple[str, list]:
        quote = self.quote
        names = self._names()
        params = [value for row in chunk for value in row]
        if self.connection.vendor == "postgresql":
            # The first row's casts give the VALUES columns their types; later rows' literals resolve to them.
            first = "(" + ", ".join(f"%s::{f.cast_db_type(self.connection)}" for f in self.columns) + ")"
            other = "(" + ", ".join(["%s"] * len(self.columns)) + ")"
            values = ", ".join([first] + [other] * (count - 1))
            sets = ", ".join(f"{quote(f.column)} = v.{names[1 + i]}" for i, f in enumerate(self.set_fields))
            conditions, extra = self._conditions(self.table, "v")
            sql = (
                f"UPDATE {self.table} SET {sets} FROM (VALUES {values}) AS v ({', '.join(names)}) "
                f"WHERE {' AND '.join(conditions)}"
            )
            return sql, params + extra
        # MariaDB and MySQL: the rows as a derived table of SELECTs; the first names the columns.
        first = "SELECT " + ", ".join(f"%s AS {name}" for name in names)
        other = "SELECT " + ", ".join(["%s"] * len(self.columns))
        rows = " UNION ALL ".join([first] + [other] * (count - 1))
        sets = ", ".join(f"t.{quote(f.column)} = v.{names[1 + i]}" for i, f in enumerate(self.set_fields))
        conditions, extra = self._conditions("t", "v")
        sql = f"UPDATE {self.table} AS t JOIN ({rows}) AS v ON {' AND '.join(conditions)} SET {sets}"
        return sql, params + extra
