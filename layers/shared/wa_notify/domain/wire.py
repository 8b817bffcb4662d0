"""The rendered Cloud API request as a message row keeps it until WhatsApp accepts it (issue 14).

DynamoDB bills a write by the item's size in whole kilobytes, before or after the write,
whichever is larger. The request is most of a new message row: with it as a map, a typical
template message was 1.2 KB, so its put, its lease and its accepted write cost two write units
each. Stored packed it is about 260 bytes, and the row stays under 1 KB:
- the envelope goes (`messaging_product`, `recipient_type`, `to`, `biz_opaque_callback_data`):
  the row has `to` and `id`, and `wire_request` puts them back the same way every time;
- the rest is compact JSON, raw-deflated (a Binary attribute; the JSON repeats its keys).
Rows written before this keep a map; `wire_request` and `stored_request` read both.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

ENVELOPE = ("messaging_product", "recipient_type", "to", "biz_opaque_callback_data")
_WBITS = -15  # raw deflate: no zlib header or checksum (DynamoDB keeps the bytes intact)


def pack_request(request: Mapping[str, Any]) -> bytes:
    """The request without its envelope, as compact JSON, deflated."""
    body = {k: v for k, v in request.items() if k not in ENVELOPE}
    packer = zlib.compressobj(9, zlib.DEFLATED, _WBITS)
    return packer.compress(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()) + packer.flush()


def stored_request(stored: Any) -> dict[str, Any]:
    """What `pack_request` kept (without the envelope), from a packed value (bytes, or boto3's
    Binary) or an older row's map; {} when there is none."""
    if stored is None:
        return {}
    if isinstance(stored, Mapping):
        return {k: v for k, v in stored.items() if k not in ENVELOPE}
    raw = bytes(getattr(stored, "value", stored))
    unpacked: dict[str, Any] = json.loads(zlib.decompress(raw, _WBITS))
    return unpacked


def wire_request(stored: Any, *, to: str, message_id: str) -> dict[str, Any]:
    """The request to send: the envelope (the row's `to` and id) around what was stored."""
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to,
            **stored_request(stored), "biz_opaque_callback_data": message_id}
