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
