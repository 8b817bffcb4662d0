"""HMAC-SHA256 signatures: Meta's X-Hub-Signature-256 and our own callback X-Signature-256."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of `sha256=<hex>` over the exact raw bytes received."""
    if not secret or not header or not header.startswith(PREFIX):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return same_secret(header[len(PREFIX) :].strip().lower(), expected)


def same_secret(given: str, expected: str) -> bool:
    """Constant-time equality of two strings as UTF-8 bytes: compare_digest refuses str with
    non-ASCII characters (a TypeError, so a 500 anyone could cause), bytes never."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))
