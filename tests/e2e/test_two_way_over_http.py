"""Two-way on the running stack: an inbound message opens the window and reaches the platform's callback URL, signed."""

import hashlib
import hmac
import json
import time

import httpx
import pytest

pytestmark = pytest.mark.e2e


def is_from_wa_notify(raw_body: bytes, header: str, secret: str) -> bool:
    """The README's verification snippet, verbatim."""
    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


def test_reply_opens_the_window_and_reaches_the_callback_url(base_url):
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "shop"}).json()
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {tenant['api_key']}"}, timeout=10)
    secret = client.put("/v1/settings", json={"callback_url": f"{base_url}/_local/callbacks/sink"}).json()["callback_secret"]
    assert client.post("/v1/messages", json={"to": "+5511912345678", "text": "hi"}).status_code == 409
    inbound = httpx.post(f"{base_url}/_local/sandbox/inbound",
                         json={"from": "+5511912345678", "text": "Qual o frete?", "phone_number_id": tenant["phone_number_id"]})
    assert inbound.status_code == 202
    deadline = time.monotonic() + 10
    mine = []
    while time.monotonic() < deadline and not mine:
        mine = [c for c in httpx.get(f"{base_url}/_local/callbacks").json()["callbacks"] if "Qual o frete?" in c["body"]]
        time.sleep(0.1)
    assert mine, f"no callback arrived; the stream reader: {httpx.get(f'{base_url}/_local/info').json()['stream']}"
    assert is_from_wa_notify(mine[0]["body"].encode(), mine[0]["headers"]["x-signature-256"], secret)
    assert json.loads(mine[0]["body"])["type"] == "message.received"
    assert client.post("/v1/messages", json={"to": "+5511912345678", "text": "Frete grátis acima de R$200."}).status_code == 202
