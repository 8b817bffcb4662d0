"""DynamoDB: the one table's client, with typed helpers and condition failures as False.

The key schema (every item type, its keys, indexes and TTL) is `adapters/storage/keys.py` and
docs/key-schema.md; the repositories over this table are in `adapters/storage/`.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_ser = TypeSerializer()
_de = TypeDeserializer()


def to_attr(value: Any) -> Mapping[str, Any]:
    return _ser.serialize(value)


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_de.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


def _number(text: str) -> Decimal | str:
    """A JSON number as DynamoDB's Decimal; one DynamoDB cannot hold (beyond 38 digits, or a
    magnitude outside 1e-130..1e126, such as 1e-320 or a 42-digit integer) as its JSON text,
    so a stranger's value is stored as given instead of failing the whole write."""
    try:
        return DYNAMODB_CONTEXT.create_decimal(text)
    except decimal.DecimalException:  # Inexact, Rounded, Overflow, Underflow, Clamped: all trapped
        return text


def dynamo_safe(value: Any) -> Any:
    """JSON-like data with numbers turned into Decimals, as DynamoDB requires."""
    return json.loads(json.dumps(value), parse_float=_number, parse_int=lambda text: int(text) if len(text) <= 38 else text)


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@dataclass
class Table:
    """Thin wrapper over the low-level client: typed helpers, condition failures as False."""

    name: str
    client: Any = None

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = boto3.client("dynamodb")

    def get(self, pk: str, sk: str, *, consistent: bool = False, attributes: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """GetItem; with `attributes`, only those come back (the same read cost, a smaller answer)."""
        projection = {"ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(attributes))),
                      "ExpressionAttributeNames": {f"#a{i}": a for i, a in enumerate(attributes)}} if attributes else {}
        resp = self.client.get_item(TableName=self.name, Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=consistent, **projection)
        return from_item(resp["Item"]) if "Item" in resp else None

    def put(self, item: dict[str, Any]) -> None:
        """Unconditional PutItem: the item replaces whatever had its key."""
        self.client.put_item(TableName=self.name, Item=to_item(item))

    def put_new(self, item: dict[str, Any], *, replace_expired_before: int | None = None) -> bool:
        """PutItem only if the key is free (or, with `replace_expired_before`, holds an item whose
        `expires_at` is older: TTL deletes late); False when it is taken."""
        extra: dict[str, Any] = {}
        condition = "attribute_not_exists(pk)"
        if replace_expired_before is not None:
            condition += " OR expires_at < :now"
            extra["ExpressionAttributeValues"] = {":now": to_attr(replace_expired_before)}
        try:
            self.client.put_item(TableName=self.name, Item=to_item(item), ConditionExpression=condition, **extra)
            return True
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise

    def update(
        self,
        pk: str,
        sk: str,
        expression: str,
        *,
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        return_new: bool = False,
        return_old: bool = False,
        return_old_on_failure: bool = False,
    ) -> tuple[bool, dict[str, Any] | None]:
        """Run one UpdateItem: (True, the item after it with `return_new`, the updated attributes
        as they were with `return_old`, else None); (False, old item or None) when the condition
        fails (the old item only with `return_old_on_failure`)."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": to_item({"pk": pk, "sk": sk}), "UpdateExpression": expression}
        if condition:
            kwargs["ConditionExpression"] = condition
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if values:
            kwargs["ExpressionAttributeValues"] = {k: to_attr(v) for k, v in values.items()}
        if return_new:
            kwargs["ReturnValues"] = "ALL_NEW"
        elif return_old:
            kwargs["ReturnValues"] = "UPDATED_OLD"
        if return_old_on_failure:
            kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            resp = self.client.update_item(**kwargs)
        except ClientError as exc:
            if _is_condition_failure(exc):
                # botocore types the error response without the item ReturnValuesOnConditionCheckFailure adds
                old = exc.response.get("Item")
                return False, (from_item(old) if isinstance(old, dict) and old else None)
            raise
        if (return_new or return_old) and "Attributes" in resp:
            return True, from_item(resp["Attributes"])
        return True, ({} if return_old else None)

    def delete(self, pk: str, sk: str, *, condition: str | None = None, values: dict[str, Any] | None = None) -> bool:
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": to_item({"pk": pk, "sk": sk})}
        if condition:
            kwargs["ConditionExpression"] = condition
        if values:
            kwargs["ExpressionAttributeValues"] = {k: to_attr(v) for k, v in values.items()}
        try:
            self.client.delete_item(**kwargs)
            return True
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise

    def query(
        self,
        key_condition: str,
        values: dict[str, Any],
        *,
        index: str | None = None,
        names: dict[str, str] | None = None,
        limit: int | None = None,
        start_key: dict[str, Any] | None = None,
        consistent: bool = False,
        newest_first: bool = False,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": {k: to_attr(v) for k, v in values.items()},
        }
        if index:
            kwargs["IndexName"] = index
        else:
            kwargs["ConsistentRead"] = consistent
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if limit:
            kwargs["Limit"] = limit
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        if newest_first:
            kwargs["ScanIndexForward"] = False
        resp = self.client.query(**kwargs)
        return [from_item(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")

    def scan(self, filter_expression: str, values: dict[str, Any], *, limit: int | None = None,
             start_key: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One Scan page. Only for operators' tools (the admin CLI): a scan reads the whole table."""
        kwargs: dict[str, Any] = {"TableName": self.name, "FilterExpression": filter_expression,
                                  "ExpressionAttributeValues": {k: to_attr(v) for k, v in values.items()}}
        if limit:
            kwargs["Limit"] = limit
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        resp = self.client.scan(**kwargs)
        return [from_item(i) for i in resp.get("Items", [])], resp.get("LastEvaluatedKey")

    def batch_get(self, keys: list[dict[str, Any]], *, projection: str | None = None,
                  names: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """BatchGetItem, consistent, 100 keys a call, unprocessed keys retried (5 rounds)."""
        out: list[dict[str, Any]] = []
        wire = [to_item(k) for k in keys]
        for start in range(0, len(wire), 100):
            spec: dict[str, Any] = {"Keys": wire[start : start + 100], "ConsistentRead": True}
            if projection:
                spec["ProjectionExpression"] = projection
            if names:
                spec["ExpressionAttributeNames"] = names
            request: dict[str, Any] = {self.name: spec}
            for _ in range(5):
                resp = self.client.batch_get_item(RequestItems=request)
                out += [from_item(i) for i in resp.get("Responses", {}).get(self.name, [])]
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
        return out

    def transact_put(self, puts: Sequence[tuple[dict[str, Any], str | None]], values: dict[str, Any] | None = None,
                     updates: list[dict[str, Any]] | None = None, deletes: list[dict[str, Any]] | None = None) -> list[str] | None:
        """Put items atomically, each with its own condition (None: unconditional overwrite),
        together with `updates` ({pk, sk, expression, condition, values}) and `deletes`
        ({pk, sk, condition, values}), all or nothing.
        None on success, else the failure code of each item (puts, updates, then deletes)."""
        transact: list[dict[str, Any]] = []
        for item, condition in puts:
            put: dict[str, Any] = {"TableName": self.name, "Item": to_item(item)}
            if condition:
                put["ConditionExpression"] = condition
                if values and any(k in condition for k in values):
                    put["ExpressionAttributeValues"] = {k: to_attr(v) for k, v in values.items() if k in condition}
            transact.append({"Put": put})
        for u in updates or []:
            update: dict[str, Any] = {"TableName": self.name, "Key": to_item({"pk": u["pk"], "sk": u["sk"]}),
                                      "UpdateExpression": u["expression"]}
            if u.get("condition"):
                update["ConditionExpression"] = u["condition"]
            if u.get("names"):
                update["ExpressionAttributeNames"] = u["names"]
            if u.get("values"):
                update["ExpressionAttributeValues"] = {k: to_attr(v) for k, v in u["values"].items()}
            transact.append({"Update": update})
        for d in deletes or []:
            delete: dict[str, Any] = {"TableName": self.name, "Key": to_item({"pk": d["pk"], "sk": d["sk"]})}
            if d.get("condition"):
                delete["ConditionExpression"] = d["condition"]
            if d.get("values"):
                delete["ExpressionAttributeValues"] = {k: to_attr(v) for k, v in d["values"].items()}
            transact.append({"Delete": delete})
        try:
            self.client.transact_write_items(TransactItems=transact)
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            return [r.get("Code", "None") for r in reasons] or ["ConditionalCheckFailed"]

    def transact_put_new(self, items: list[dict[str, Any]], *, replace_expired_before: int | None = None,
                         updates: list[dict[str, Any]] | None = None) -> list[str] | None:
        """Put all items atomically, each only if absent (or, with `replace_expired_before`, if its
        `expires_at` is older: TTL deletes late, so expiry is decided by timestamp).
        None on success, else the failure code of each item."""
        condition = "attribute_not_exists(pk)"
        if replace_expired_before is None:
            return self.transact_put([(i, condition) for i in items], updates=updates)
        return self.transact_put([(i, condition + " OR expires_at < :now") for i in items], {":now": replace_expired_before},
                                 updates=updates)
