"""Identifiers: time-ordered and unguessable (OWASP API1 advice)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time


def new_id(prefix: str) -> str:
    """`<prefix>_` + 48-bit millisecond time + 80 random bits, base32, sortable by creation."""
    raw = (time.time_ns() // 1_000_000).to_bytes(6, "big") + secrets.token_bytes(10)
    return f"{prefix}_" + base64.b32encode(raw).decode().rstrip("=").lower()


def new_api_key() -> str:
    return "wan_" + secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    """API keys are 256-bit random, so a plain SHA-256 is enough (no slow hash needed)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def body_hash(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()
