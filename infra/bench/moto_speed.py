"""moto's costs that are not DynamoDB's, taken out of `make soak` so that N=10,000 fits on a laptop.

Neither changes what a request answers; tests/functional/test_chaos_soak.py checks that.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def attribute_values_serialized_directly() -> Iterator[None]:
    """moto serializes each DynamoDB AttributeValue by looking up all ten of its members (S, N,
    B, SS, NS, BS, M, L, NULL, BOOL) through six alias rules each: 70% of an UpdateItem that
    returns the item, 20 ms for a message row. An AttributeValue is already a dict holding just
    its own member, so only that member is serialized, by moto's own code for its type."""
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        members = shape.members
        if shape.name != "AttributeValue" or not key or type(value) is not dict or not all(k in members for k in value):
            return original(self, serialized, value, shape, key)
        wrapper = self.MAP_TYPE()
        for member_key, member_value in value.items():
            if member_value is not None:
                member_shape = members[member_key]
                member_shape.parent = shape  # as moto's loop sets it, for its alias rules further down
                self._serialize(wrapper, member_value, member_shape, member_key)
        self._default_serialize(serialized, wrapper, shape, key)
        return None

    BaseJSONSerializer._serialize_type_structure = serialize_structure  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseJSONSerializer._serialize_type_structure = original  # type: ignore[method-assign]


@contextlib.contextmanager
def retention_read_directly() -> Iterator[None]:
    """For each message it hands out, moto's ReceiveMessage checks the retention period through
    GetQueueAttributes, which computes every attribute three times, each count a scan of the
    whole queue: a receive cost 30 scans of the queue. The period is read from the queue."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    original = SQSBackend.is_message_valid_based_on_retention_period

    def is_valid(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return retention_period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_valid  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQSBackend.is_message_valid_based_on_retention_period = original  # type: ignore[method-assign]
