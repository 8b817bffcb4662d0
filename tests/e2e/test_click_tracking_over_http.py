"""Click tracking over HTTP on the running local stack: a tracked send, its link followed by a
plain HTTP client (no redirect followed), the click on the message and in analytics."""

import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.e2e

TEMPLATE = {"name": "order_ready", "language": "en_US", "category": "UTILITY", "parameter_format": "NAMED", "components": [
    {"type": "BODY", "text": "Hi {{first_name}}, your order is ready: details at {{link}} or in the app.",
     "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"},
                                            {"param_name": "link", "example": "https://shop.example.com/o/1"}]}},
    {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "Track", "url": "https://track.example.com/{{1}}", "example": ["https://track.example.com/1Z"]}]}]}


def wait_for(check, seconds=60):  # returns as soon as it holds; a starved machine delivers webhooks late
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    return check()


def test_a_tracked_link_redirects_and_the_click_shows_on_the_message_and_in_analytics(base_url):
    # GIVEN a tenant that tracks clicks, with a template registered after turning it on
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "clicks"}).json()
    auth = {"Authorization": f"Bearer {tenant['api_key']}"}
    assert httpx.put(f"{base_url}/v1/settings", json={"track_clicks": True}, headers=auth).status_code == 200
    assert httpx.post(f"{base_url}/v1/templates", json=TEMPLATE, headers=auth).status_code == 201
    wait_for(lambda: httpx.get(f"{base_url}/v1/templates/order_ready?language=en_US", headers=auth).json()["status"] == "APPROVED")
    # WHEN a message with a link in a param and a URL button is sent
    body = {"to": "+886912000321", "template": {"name": "order_ready", "language": "en_US"},
            "params": {"first_name": "Ana", "link": "https://shop.example.com/o/77"}, "button_params": {"0": "1Z77"}}
    response = httpx.post(f"{base_url}/v1/messages", json=body, headers=auth)
    assert response.status_code == 202, response.text
    message_id = response.json()["id"]
    received = wait_for(lambda: httpx.get(f"{base_url}/_local/sandbox/messages", params={"to": "+886912000321"}).json()["messages"])
    # THEN the phone got the tracker's link, not the shop's
    assert f"{base_url}/r/" in received[0]["text"] and "shop.example.com" not in received[0]["text"]
    link = next(w for w in received[0]["text"].split() if w.startswith(f"{base_url}/r/"))
    # WHEN the customer's browser follows it (no key; this client does not follow redirects)
    followed = httpx.get(link, follow_redirects=False)
    # THEN 302 to the shop's URL, uncached, no referrer; and a made-up token is a 404 problem
    assert followed.status_code == 302 and followed.headers["location"] == "https://shop.example.com/o/77"
    assert followed.headers["cache-control"] == "no-store" and followed.headers["referrer-policy"] == "no-referrer"
    unknown = httpx.get(f"{base_url}/r/{'A' * 22}", follow_redirects=False)
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem+json")
    # AND the message shows the click, the analytics count it
    message = httpx.get(f"{base_url}/v1/messages/{message_id}", headers=auth).json()
    assert [c["url"] for c in message["clicks"]] == ["https://shop.example.com/o/77"]
    assert urlsplit(link).path.startswith("/r/")
    today = datetime.now(UTC).date().isoformat()

    def clicked_row():
        items = httpx.get(f"{base_url}/v1/analytics/templates?from={today}&to={today}", headers=auth).json()["items"]
        row = next((r for r in items if r["template"]["name"] == "order_ready"), None)
        return row if row and row["clicked"] == 1 else None

    row = wait_for(clicked_row)
    assert row and row["click_rate"] == 1.0
