"""moto's costs that are not DynamoDB's, taken out of `make soak` so that N=10,000 fits on a laptop.

Neither changes what a request answers; tests/functional/test_chaos_soak.py checks that.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def attribute_values_serialized_directly() -> Iterator[None]:
    """moto serializes each DynamoDB AttributeValue by looking up all ten of its members (S, N,
    B, SS, NS, BS, M, L, NULL, BOOL) through six alias rules each: 70% of an UpdateItem that
    returns the item, 20 ms for a message row. An AttributeValue is already a dict holding just
    its own member, so only that member is serialized, by moto's own code for its type."""
    from moto.core.serialize import BaseJSONSerializer

    from infra.local.moto_speed import attribute_value_serializer

    original = BaseJSONSerializer._serialize_type_structure
    serialize_structure = attribute_value_serializer(original)  # the local stack's own patch, scoped here
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
    from moto.sqs.models import SQSBackend

    from infra.local.moto_speed import valid_by_queue_retention

    original = SQSBackend.is_message_valid_based_on_retention_period
    SQSBackend.is_message_valid_based_on_retention_period = valid_by_queue_retention  # type: ignore[method-assign]
    try:
        yield
    finally:
        SQSBackend.is_message_valid_based_on_retention_period = original  # type: ignore[method-assign]
