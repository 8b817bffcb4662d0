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
- SQS scans: the visible messages are listed with one clock reading per scan (moto read it twice
  per message), and a delete finds its message in one pass (moto made two, each building every
  message's list of receipt handles).
- structural checks: the update validator's three checks that only look (clause counts,
  overlapping paths, key attributes) run once per update text, attribute names and table keys
  that passed them; a failure is never remembered.
- item sizes: the 400 KB check re-sums the whole item on every attribute set, and moto's
  DynamoType.size rebuilt each nested value first; the same sum straight from the values.
- condition lexing: a ConditionExpression's tokens are kept per text (it is parsed twice per
  UpdateItem, each token lexed through six regular expressions compiled again).
- one old-item copy per UpdateItem: the backend's copy for the stream's old image is the one
  the response layer took of the same item moments before (for ReturnValues).
- method names: the response class's function list, which moto built with inspect.getmembers
  on every request, is kept per class.
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
_snapshots = threading.local()  # the item copy an UpdateItem's response layer took (item, copy)


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto.dynamodb.models: a Table "copied" is the table
    itself (so moto's own backup and rollback of whole tables do nothing); the item an UpdateItem
    copies before changing it (for the stream's old image) is the copy its response layer took
    of that very item moments before (`_patch_update_snapshot`); anything else is deep-copied as
    before."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if isinstance(value, Table):
            return value
        taken = getattr(_snapshots, "taken", None)
        if memo is None and taken is not None and taken[0] is value:
            _snapshots.taken = None  # used once
            return taken[1]
        return copy.deepcopy(value, memo)

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


# ---- UpdateItem's two copies of the old item ---------------------------------------------------
class _ResponseCopies:
    """Stands in for the `copy` module inside moto.dynamodb.responses, whose one use is UpdateItem
    copying the item before the update (for ReturnValues): that copy is kept for the backend."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.dynamo_type import Item

        result = copy.deepcopy(value, memo)
        if memo is None and isinstance(value, Item):
            _snapshots.taken = (value, result)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _patch_update_snapshot() -> None:
    """An UpdateItem deep-copied the item twice before changing it: the response layer (to answer
    ReturnValues) and then the backend (the stream record's old image). Nothing changes the item
    in between (one request, under the stack's lock) and neither copy is changed afterwards (each
    is only turned into JSON, which copies what it returns), so the backend uses the response
    layer's copy. It is used only by the same UpdateItem, for the same item object, once."""
    import moto.dynamodb.responses as ddb_responses

    ddb_responses.copy = _ResponseCopies()  # type: ignore[assignment]
    handler = ddb_responses.DynamoHandler
    original = handler.update_item

    def update_item(self: Any) -> Any:
        _snapshots.taken = None
        try:
            return original(self)
        finally:
            _snapshots.taken = None

    update_item._wa_original = original  # type: ignore[attr-defined]
    handler.update_item = update_item  # type: ignore[method-assign]


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
    attribute deep-copied; that is done here directly, a third of the cost. A node's `children`
    list and its `parent` are copied here too, with copy.deepcopy's memo rules (a list or node
    met again is its one copy; the list is in the memo before its items are copied), so the
    generic dispatch runs only for anything else."""
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]

    atomic = (str, int, float, bool, type(None))

    def copied(value: Any, memo: dict[int, Any]) -> Any:
        if type(value) in atomic:
            return value
        found = memo.get(id(value))
        if found is not None:
            return found
        if type(value) is list:
            out: list[Any] = []
            memo[id(value)] = out
            out.extend(copied(item, memo) for item in value)
            return out
        if Node in type(value).__mro__:
            return node_deepcopy(value, memo)
        return copy.deepcopy(value, memo)

    def node_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
        cls = type(self)
        new = cls.__new__(cls)  # type: ignore[call-overload]
        memo[id(self)] = new
        state = new.__dict__
        for name, value in self.__dict__.items():
            state[name] = value if type(value) in atomic else copied(value, memo)
        return new

    Node.__deepcopy__ = node_deepcopy  # type: ignore[attr-defined]


# ---- structural checks of an update --------------------------------------------------------
STRUCTURAL_CACHE_SIZE = 512


def _patch_structural_checks() -> None:
    """moto's update validator runs ten passes over a copy of the parsed tree. The first three
    only look and raise (one ADD/REMOVE/SET clause each, no overlapping paths, no key attribute
    updated): each returns the node it was given, and what it finds depends only on the tree, the
    request's attribute names and the table's key attributes. The one that counts clauses is
    quadratic (each nested UpdateExpression node searches all below it), a third of the
    validator. Once an update's tree has passed them with the same names and keys, they are not
    run again for it; a failure is never remembered (it raises every time, from moto's code). The
    other seven passes (values, names, functions, paths, operations, types, empty keys) run on
    every request as before."""
    from moto.dynamodb.parsing.validators import (  # type: ignore[attr-defined]
        ActionCountValidator,
        OverlappingPathsValidator,
        UpdateExpressionValidator,
        UpdateHashRangeKeyValidator,
    )

    structural = (ActionCountValidator, OverlappingPathsValidator, UpdateHashRangeKeyValidator)
    original_init, original_validate = UpdateExpressionValidator.__init__, UpdateExpressionValidator.validate
    passed: dict[tuple[Any, ...], Any] = {}  # key -> the parsed tree it names (held, so its id is not reused)
    lock = threading.Lock()

    def init(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, expression, *args, **kwargs)
        names = tuple(sorted((self.expression_attribute_names or {}).items()))
        self._wa_tree = expression
        self._wa_key = (id(expression), names, tuple(self.table.table_key_attrs))

    def validate(self: Any) -> Any:
        with lock:
            known = passed.get(self._wa_key) is self._wa_tree
        node = self.node_to_validate
        checked = False
        for processor in self.processors:
            is_structural = isinstance(processor, structural)
            if is_structural and known:
                continue
            if not is_structural and not checked and not known:
                checked = True  # every structural check has passed (moto runs them first)
                with lock:
                    if len(passed) >= STRUCTURAL_CACHE_SIZE:
                        passed.clear()
                    passed[self._wa_key] = self._wa_tree
            node = processor.traverse(node)
        return node

    init._wa_original = original_init  # type: ignore[attr-defined]
    validate._wa_original = original_validate  # type: ignore[attr-defined]
    UpdateExpressionValidator.__init__ = init  # type: ignore[method-assign]
    UpdateExpressionValidator.validate = validate  # type: ignore[method-assign]


# ---- item sizes ------------------------------------------------------------------------------
_SETS = {"SS": "S", "NS": "N", "BS": "B"}


def _value_size(type_: str, value: Any) -> int:
    """DynamoType.size for (type, value), as moto computes it, without building DynamoTypes (and
    a map's string and number members sized in line: most of an item)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if type_ == "M":
        total = 0
        for k, v in value.items():
            total += len(k if isinstance(k, bytes) else k.encode("utf-8"))
            if type(v) is not DynamoType:
                total += DynamoType(v).size()
                continue
            member_type, member = v.type, v.value
            if member_type == "S" and type(member) is str:
                total += len(member.encode("utf-8"))
            elif member_type == "N":
                total += len(str(member))
            else:
                total += _value_size(member_type, member)
        return total
    if type_ == "N":
        return len(str(value))
    if type_ in _SETS:
        member_type = _SETS[type_]
        return sum(_value_size(member_type, v) for v in value)
    if type_ == "L":
        return sum(v.size() for v in value)
    if isinstance(value, bool):
        return 1
    return len(value if isinstance(value, bytes) else value.encode("utf-8"))  # moto's bytesize


def _patch_item_sizes() -> None:
    """Every attribute set on an item (each SET of an UpdateItem) re-sums the size of the whole
    item, to refuse one over 400 KB; moto's DynamoType.size rebuilds every nested map value as a
    new DynamoType (itself rebuilding all below it) before sizing it. The same sum is taken
    straight from the values: a tenth of an UpdateItem's time before."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    def size(self: Any) -> int:
        return _value_size(self.type, self.value)

    size._wa_original = DynamoType.size  # type: ignore[attr-defined]
    DynamoType.size = size  # type: ignore[method-assign]


# ---- condition expression lexing --------------------------------------------------------------
def _patch_condition_lexing() -> None:
    """An UpdateItem's ConditionExpression is parsed twice (the response layer checks which
    names and values it uses, the backend evaluates it), and each parse first lexes the text
    with six regular expressions compiled again for every token. The tokens depend only on the
    text (names and values are looked up after lexing), and they are immutable (namedtuples
    whose `children` no step of moto's parser changes), so the token list is kept per text; each
    parse gets its own deque of them. A text that does not lex raises every time."""
    from collections import deque

    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser._lex_condition_expression
    lexed: dict[str, tuple[Any, ...]] = {}
    lock = threading.Lock()

    def lex(self: Any) -> Any:
        text = self.condition_expression
        with lock:
            tokens = lexed.get(text)
        if tokens is None:
            tokens = tuple(original(self))
            with lock:
                if len(lexed) >= PARSE_CACHE_SIZE:
                    lexed.clear()
                lexed[text] = tokens
        return deque(tokens)

    lex._wa_original = original  # type: ignore[attr-defined]
    ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]


# ---- response method lookup -------------------------------------------------------------------
def _patch_method_names() -> None:
    """For every request, moto lists its response class's functions with inspect.getmembers to
    check that the action is one of them. The list is kept per class (moto's response classes
    are not changed after import: the patches here replace functions, never add or remove one)."""
    import moto.core.responses as core_responses

    original = core_responses.method_names_from_class
    found: dict[Any, list[str]] = {}

    def method_names_from_class(clazz: object) -> list[str]:
        names = found.get(clazz)
        if names is None:
            names = found[clazz] = original(clazz)
        return names

    method_names_from_class._wa_original = original  # type: ignore[attr-defined]
    core_responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]


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


def _patch_sqs_scans() -> None:
    """Two whole-queue scans per request, each message costing far more than it needs to: the
    visible messages (every ReceiveMessage and every wait for one) read the clock twice per
    message, through datetime arithmetic; here once per scan, so the list is the queue as of one
    instant. A delete walked the queue twice per receipt handle, building a list of the handles
    each message ever had; here once, comparing in place. The same messages, the same errors."""
    from moto.core.utils import unix_time_millis
    from moto.sqs.exceptions import ReceiptHandleIsInvalid
    from moto.sqs.models import Queue

    def messages(self: Any) -> list[Any]:
        now = unix_time_millis()
        return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: moto answers success again
        kept, found = [], False
        for message in self._messages:
            if message.receipt_handle == receipt_handle or receipt_handle in message._old_receipt_handles:
                found = True
                self.pending_messages.discard(message)
                self.deleted_messages.update(message.all_receipt_handles)
            else:
                kept.append(message)
        if not found:
            raise ReceiptHandleIsInvalid
        self._messages = kept

    messages._wa_original = Queue.messages  # type: ignore[attr-defined]
    delete_message._wa_original = Queue.delete_message  # type: ignore[attr-defined]
    Queue.messages = property(messages)  # type: ignore[method-assign, assignment]
    Queue.delete_message = delete_message  # type: ignore[method-assign]


PATCHES: dict[str, Callable[[], None]] = {
    "transactions": _patch_transactions,
    "attribute_values": _patch_attribute_values,
    "update_expression_parses": _patch_update_expression_parses,
    "expression_traversal": _patch_expression_traversal,
    "node_copies": _patch_node_copies,
    "item_json": _patch_item_json,
    "structural_checks": _patch_structural_checks,
    "item_sizes": _patch_item_sizes,
    "method_names": _patch_method_names,
    "condition_lexing": _patch_condition_lexing,
    "update_snapshot": _patch_update_snapshot,
    "sqs_retention": _patch_sqs_retention,
    "sqs_scans": _patch_sqs_scans,
}
