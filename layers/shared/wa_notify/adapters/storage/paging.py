"""Opaque listing cursors: a DynamoDB LastEvaluatedKey, encoded for clients and checked on return."""

from __future__ import annotations

import base64
import json
from typing import Any


def encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, expected_pk: str) -> dict[str, Any] | None:
    """Cursors are opaque to clients; a forged one for another tenant's partition is refused."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if key["pk"]["S"] != expected_pk or set(key) != {"pk", "sk"} or set(key["sk"]) != {"S"} or len(key["sk"]["S"]) > 1024:
            raise ValueError
        return key
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("cursor is not valid") from exc


def query_page(table: Any, pk: str, *, limit: int, cursor: str | None, prefix: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a partition (consistent), optionally only the sort keys starting with `prefix`."""
    if prefix:
        cond, values = "pk = :pk AND begins_with(sk, :prefix)", {":pk": pk, ":prefix": prefix}
    else:
        cond, values = "pk = :pk", {":pk": pk}
    items, last = table.query(cond, values, limit=limit, start_key=decode_cursor(cursor, pk), consistent=True)
    return items, encode_cursor(last)


def decode_index_cursor(cursor: str | None, partition: tuple[str, str], sort_attr: str, pk_prefixes: tuple[str, ...],
                        bounds: tuple[str, str]) -> dict[str, Any] | None:
    """A cursor of an index page (its LastEvaluatedKey: the table's pk and sk, the index's keys):
    refused unless it names this very listing (`partition`: the index's key attribute and value),
    one of its rows (`pk_prefixes`) and a place inside its time bounds (DynamoDB would refuse a
    start key outside the key condition with a 400 of its own)."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        attr, value = partition
        if (set(key) != {"pk", "sk", attr, sort_attr} or any(set(v) != {"S"} or not isinstance(v["S"], str) or len(v["S"]) > 1024
                                                               for v in key.values())):
            raise ValueError
        if key[attr]["S"] != value or not key["pk"]["S"].startswith(pk_prefixes) or not bounds[0] <= key[sort_attr]["S"] <= bounds[1]:
            raise ValueError
        return key
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError("cursor is not valid") from exc
