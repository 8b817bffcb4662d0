"""moto's own costs taken out of the local stack (issue 14), so that it carries the send path
at WhatsApp's default 80 messages/s. Each patch changes what moto spends, never what a request
answers or what the table and its stream hold afterwards; tests/functional/test_moto_speed.py
has a test per patch that fails without its semantics.

`install()` applies them once per process (LocalStack.start calls it, like `_serialize_moto`);
they stay for the life of the process, as moto's own classes are process-wide.

- transactions: moto makes TransactWriteItems all-or-nothing by deep-copying every table the
  transaction names, once per item, and putting the copies back when it is cancelled (and
  with them new Table and stream shard objects). Here only the items the transaction touches
  are copied, with each table's stream length, and a cancelled transaction puts those items
  back and drops the stream records it wrote: the same all-or-nothing, the same table object.
- attribute values: moto serializes each DynamoDB AttributeValue by trying all ten of its
  members through six alias rules each; only the member present is serialized, by moto's own
  code for its type.
- update expressions: moto parses the same UpdateExpression text twice per UpdateItem (the
  response layer and the backend); the parse is kept per text. The tree is only read by its
  callers (moto's validator deep-copies it before filling in values), so sharing it is safe.
- SQS retention: for each message it hands out, ReceiveMessage computed every queue attribute
  three times (each count a scan of the queue) to read the retention period; it is read from
  the queue.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

_installed: set[str] = set()
_install_lock = threading.Lock()
PARSE_CACHE_SIZE = 512


def install() -> None:
    """Apply every patch (each at most once per process)."""
    with _install_lock:
        for name, patch in PATCHES.items():
            if name not in _installed:
                patch()
                _installed.add(name)


# ---- TransactWriteItems ------------------------------------------------------------------------
class _TablesNotCopied:
    """Stands in for the `copy` module inside moto.dynamodb.models: a Table "copied" is the table
    itself (so moto's own backup and rollback of whole tables do nothing); anything else is
    deep-copied as before (moto's UpdateItem copies the old item with it)."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any]]:
    """(table, hash key, range key) of every item a transaction names, as moto keys them."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    found = []
    for entry in transact_items:
        for op_type, op in entry.items():
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue  # moto answers ResourceNotFound for it; nothing of it can change
            attrs = op.get("Item") if op_type == "Put" else op.get("Key")
            if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
                continue  # malformed: moto refuses it before it writes anything
            range_value = attrs.get(table.range_key_attr) if table.range_key_attr else None
            found.append((table, DynamoType(attrs[table.hash_key_attr]), DynamoType(range_value) if range_value else None))
    return found


def _patch_transactions() -> None:
    import moto.dynamodb.models as ddb_models

    backend_cls = ddb_models.DynamoDBBackend
    original = backend_cls.transact_write_items
    ddb_models.copy = _TablesNotCopied()  # type: ignore[assignment]

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        keys = touched(self, transact_items)
        before = [(table, h, r, copy.deepcopy(_stored(table, h, r))) for table, h, r in keys]
        streams = {id(table): (table.stream_shard, len(table.stream_shard.items)) for table, _, _ in keys if table.stream_shard is not None}
        try:
            original(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(before):
                _put_back(table, hash_key, range_key, item)
            for shard, length in streams.values():
                del shard.items[length:]  # the cancelled transaction's records were never written
            raise

    transact_write_items._wa_original = original  # type: ignore[attr-defined]
    backend_cls.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _stored(table: Any, hash_key: Any, range_key: Any) -> Any:
    if table.has_range_key and range_key is None:
        return None  # moto refuses a key without its range key
    return table.get_item(hash_key, range_key)


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    if table.has_range_key:
        if range_key is None:
            return
        if item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
            if hash_key in table.items and not table.items[hash_key]:
                del table.items[hash_key]
        else:
            table.items[hash_key][range_key] = item
    elif item is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = item


# ---- response serialization --------------------------------------------------------------------
def attribute_value_serializer(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's structure serializer, with an AttributeValue (a dict holding just its own member)
    serialized through that member only."""

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

    serialize_structure._wa_original = original  # type: ignore[attr-defined]
    return serialize_structure


def _patch_attribute_values() -> None:
    from moto.core.serialize import BaseJSONSerializer

    BaseJSONSerializer._serialize_type_structure = attribute_value_serializer(BaseJSONSerializer._serialize_type_structure)  # type: ignore[method-assign]


# ---- update expression parses ------------------------------------------------------------------
def _patch_update_expression_parses() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    original = UpdateExpressionParser.make.__func__  # type: ignore[attr-defined]
    parsed: dict[str, Any] = {}
    lock = threading.Lock()

    def make(cls: Any, expression: str) -> Any:
        with lock:
            tree = parsed.get(expression)
        if tree is None:
            tree = original(cls, expression)  # a syntax error raises every time, as before
            with lock:
                if len(parsed) >= PARSE_CACHE_SIZE:
                    parsed.clear()
                parsed[expression] = tree
        return tree

    make._wa_original = original  # type: ignore[attr-defined]
    UpdateExpressionParser.make = classmethod(make)  # type: ignore[method-assign, assignment]


# ---- update expression validation --------------------------------------------------------------
def _patch_expression_traversal() -> None:
    """moto's validator walks the update's tree once per check (ten of them), and at every node
    rebuilt the check's class -> handler map, twice (`nodes_to_be_processed`, `process`). The
    maps are constants of each check (a dict literal of classes and bound methods); each check
    instance now builds its map once. The walk itself is moto's, unchanged."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]

    def processing_map(self: Any) -> dict[type, Callable[[Any], Any]]:
        found = self.__dict__.get("_wa_map")
        if found is None:
            found = self.__dict__["_wa_map"] = self._processing_map()
            self.__dict__["_wa_types"] = tuple(found)
        return found  # type: ignore[no-any-return]

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        types = self.__dict__.get("_wa_types")
        if types is None:
            processing_map(self)
            types = self.__dict__["_wa_types"]
        return types  # type: ignore[no-any-return]

    def process(self: Any, node: Any) -> Any:
        for class_key, processor in processing_map(self).items():
            if isinstance(node, class_key):
                return processor(node)
        return None

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        # moto's walk, line for line; `isinstance` against its node classes (ABCMeta, with no
        # virtual subclasses registered) is read off the class's MRO, which is what it amounts to.
        mro = type(node).__mro__
        if Node in mro:
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    self.pre_processing_of_child(node, i)
                    self.traverse_node_recursively(child_node, i)
            processing = processing_map(self)
            for class_key in processing:
                if class_key in mro:
                    node = processing[class_key](node)
                    node.parent = parent_node
                    if parent_node:
                        parent_node.children[child_id] = node
                    break
        return node

    nodes_to_be_processed._wa_original = DepthFirstTraverser.nodes_to_be_processed  # type: ignore[attr-defined]
    DepthFirstTraverser.nodes_to_be_processed = nodes_to_be_processed  # type: ignore[method-assign]
    DepthFirstTraverser.process = process  # type: ignore[method-assign]
    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively  # type: ignore[method-assign]


def _patch_node_copies() -> None:
    """moto's validator deep-copies the parsed tree before filling in values. A tree node is a
    plain object (no slots, no copy hooks), so copy.deepcopy's generic path (`__reduce_ex__`,
    `_reconstruct`) amounts to: a new instance of its class, registered in the memo, with each
    attribute deep-copied; that is done here directly, a third of the cost."""
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]

    atomic = (str, int, float, bool, type(None))

    def node_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
        cls = type(self)
        new = cls.__new__(cls)  # type: ignore[call-overload]
        memo[id(self)] = new
        state = new.__dict__
        for name, value in self.__dict__.items():
            state[name] = value if type(value) in atomic else copy.deepcopy(value, memo)
        return new

    Node.__deepcopy__ = node_deepcopy  # type: ignore[attr-defined]


# ---- item JSON -------------------------------------------------------------------------------
def _patch_item_json() -> None:
    """Item.to_json (for each response that returns an item and each stream record, old and new
    image) turns every nested attribute into plain JSON with DynamoType.to_regular_json, which
    deep-copies its whole value and then converts each nested DynamoType of the copy, which
    deep-copies again: each level copied once per level above it. The same result is built
    in one pass: nested DynamoTypes converted, anything else deep-copied, as before."""
    import base64

    from moto.dynamodb.models.dynamo_type import DynamoType

    def to_regular_json(self: Any) -> dict[str, Any]:
        value = self.value
        if isinstance(value, dict):
            value = {k: v.to_regular_json() if isinstance(v, DynamoType) else copy.deepcopy(v) for k, v in value.items()}
        elif isinstance(value, list):
            value = [v.to_regular_json() if isinstance(v, DynamoType) else copy.deepcopy(v) for v in value]
        else:
            value = copy.deepcopy(value)
        if self.is_binary() and isinstance(value, str):
            value = base64.b64decode(value)
        return {self.type: value}

    to_regular_json._wa_original = DynamoType.to_regular_json  # type: ignore[attr-defined]
    DynamoType.to_regular_json = to_regular_json  # type: ignore[method-assign]


# ---- SQS ---------------------------------------------------------------------------------------
def valid_by_queue_retention(self: Any, queue_name: str, message: Any) -> bool:
    """moto's retention check with the period read from the queue (not GetQueueAttributes)."""
    from moto.core.utils import unix_time

    retention_period = int(self.get_queue(queue_name).message_retention_period)
    return retention_period + message.sent_timestamp / 1000 > unix_time()


def _patch_sqs_retention() -> None:
    from moto.sqs.models import SQSBackend

    def is_valid(self: Any, queue_name: str, message: Any) -> bool:
        return valid_by_queue_retention(self, queue_name, message)

    is_valid._wa_original = SQSBackend.is_message_valid_based_on_retention_period  # type: ignore[attr-defined]
    SQSBackend.is_message_valid_based_on_retention_period = is_valid  # type: ignore[method-assign]


PATCHES: dict[str, Callable[[], None]] = {
    "transactions": _patch_transactions,
    "attribute_values": _patch_attribute_values,
    "update_expression_parses": _patch_update_expression_parses,
    "expression_traversal": _patch_expression_traversal,
    "node_copies": _patch_node_copies,
    "item_json": _patch_item_json,
    "sqs_retention": _patch_sqs_retention,
}
