"""The dashboard page in headless Chromium against the running local stack, with real traffic:
the key is typed into the page, the funnel and heatmap are drawn from the analytics routes,
and a screenshot is written to test-output/dashboard.png."""

import hashlib
import hmac
import json
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_local_stack import wait_for

ROOT = Path(__file__).parents[2]
OUTPUT = ROOT / "test-output"
pytestmark = pytest.mark.e2e
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail("Chromium is required here: `make browser` installs Debian's chromium")
        pytest.skip("no Chromium on this machine: `make browser` installs it (CI requires it)")
    return path


def signed_inbound(base_url, secret, pnid, sender, text, at):
    """An inbound message as Meta posts it, signed with the app secret, at a chosen time."""
    value = {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550000000", "phone_number_id": pnid},
             "contacts": [{"profile": {"name": "Customer"}, "wa_id": sender}],
             "messages": [{"from": sender, "id": f"wamid.e2e{int(at.timestamp())}{sender}", "timestamp": str(int(at.timestamp())),
                           "type": "text", "text": {"body": text}}]}
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "0", "changes": [{"field": "messages", "value": value}]}]})
    signature = "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    response = httpx.post(f"{base_url}/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def shop(base_url):
    """A tenant with a week of real traffic: three templates, failures, 3 button replies and 60 more inbound messages."""
    tenant = httpx.post(f"{base_url}/_local/tenants", json={"name": "dashboard shop"}).json()
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {tenant['api_key']}"}, timeout=10)
    assert client.put("/v1/settings", json={"track_clicks": True}).status_code == 200  # URL buttons via the tracker
    template = json.loads((ROOT / "events/api/create_template.json").read_text())
    message = json.loads((ROOT / "events/api/create_message.json").read_text())
    plan = {"order_shipped": (8, 0), "order_packed": (5, 2), "payment_received": (4, 1)}
    ids = []
    for name, (count, failing) in plan.items():
        # Meta refuses a second template with the same body: each gets its own opening words.
        components = [{**c, "text": f"{name.replace('_', ' ').capitalize()}. {c['text']}"} if c["type"] == "BODY" else c
                      for c in template["components"]]
        created = client.post("/v1/templates", json={**template, "name": name, "components": components})
        assert created.status_code == 201, created.text
        wait_for(lambda n=name: client.get(f"/v1/templates/{n}", params={"language": "en_US"}).json(), lambda t: t["status"] == "APPROVED")
        for i in range(count):
            if i < failing:
                httpx.put(f"{base_url}/_local/sandbox/config", json={"faults": [{"code": 131026, "mode": "async"}]})
            to = f"+8869120{len(ids):05d}"
            accepted = client.post("/v1/messages", json={**message, "to": to, "template": {"name": name, "language": "en_US"}})
            assert accepted.status_code == 202, accepted.text
            ids.append(accepted.json()["id"])
            wait_for(lambda m=ids[-1]: client.get(f"/v1/messages/{m}").json(), lambda m: m["status"] in ("read", "failed"))
    for message_id in ids[:3]:  # three customers answer their order_shipped message with a button
        wamid = client.get(f"/v1/messages/{message_id}").json()["provider_message_id"]
        to = client.get(f"/v1/messages/{message_id}").json()["to"]
        tap = {"from": to, "button": {"payload": "Thanks", "text": "Thanks"}, "context_message_id": wamid, "phone_number_id": tenant["phone_number_id"]}
        assert httpx.post(f"{base_url}/_local/sandbox/inbound", json=tap).status_code == 202
    for message_id in ids[:2]:  # two of them follow the tracked "Track package" link
        to = client.get(f"/v1/messages/{message_id}").json()["to"]
        sent = httpx.get(f"{base_url}/_local/sandbox/messages", params={"to": to}).json()["messages"][0]["request"]
        token = next(c["parameters"][0]["text"] for c in sent["template"]["components"] if c.get("sub_type") == "url")
        assert httpx.get(f"{base_url}/r/{token}", follow_redirects=False).status_code == 302
    info = httpx.get(f"{base_url}/_local/info").json()
    now = datetime.now(UTC).replace(minute=5, second=0, microsecond=0)
    for i in range(60):  # a week of inbound messages, busiest at 09:00 and 18:00 UTC on weekdays
        at = now - timedelta(days=i % 7, hours=(now.hour - (9 if i % 3 else 18)) % 24)
        signed_inbound(base_url, info["app_secret"], tenant["phone_number_id"], f"88691299{i % 9:04d}", "hi", at)
    time.sleep(1.5)  # the events queue is polled by the stack
    return tenant, client


def test_dashboard_draws_the_funnel_and_heatmap_from_real_traffic(base_url, shop):
    from playwright.sync_api import sync_playwright

    tenant, client = shop
    report = wait_for(lambda: client.get("/v1/analytics/templates").json(), lambda r: sum(i["sent"] + i["replied"] for i in r["items"]) == 20, timeout=20)
    assert {i["template"]["name"]: (i["sent"], i["failed"], i["replied"]) for i in report["items"]} == {
        "order_shipped": (8, 0, 3), "order_packed": (5, 2, 0), "payment_received": (4, 1, 0)}
    clicked = wait_for(lambda: client.get("/v1/analytics/templates").json(), lambda r: sum(i["clicked"] for i in r["items"]) == 2)
    assert {i["template"]["name"]: (i["clicked"], i["click_rate"]) for i in clicked["items"]}["order_shipped"] == (2, 0.25)
    activity = wait_for(lambda: client.get("/v1/analytics/activity?timezone=UTC").json(), lambda a: a["total"] == 63, timeout=20)
    assert activity["total"] == 63
    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        # GIVEN the page, served with a strict content security policy
        response = page.goto(f"{base_url}/dashboard")
        assert response.status == 200 and "script-src 'sha256-" in response.headers["content-security-policy"]
        # WHEN the platform types its API key, picks UTC and loads
        page.fill("#key", tenant["api_key"])
        page.fill("#tz", "UTC")
        page.click("#load")
        page.wait_for_selector("body[data-loaded=true]", timeout=10_000)
        # THEN each template has its funnel and the heatmap holds every inbound message
        names = page.locator(".funnel .name").all_inner_texts()
        assert [n.split()[0] for n in names] == ["order_packed", "order_shipped", "payment_received"]
        delayed = page.locator(".funnel .nums").nth(0).inner_text()
        assert delayed.startswith("5 sent") and "2 failed (40.0%)" in delayed
        assert "3 replied" in page.locator(".funnel .nums").nth(1).inner_text()
        assert "2 clicked (25.0%)" in page.locator(".funnel .nums").nth(1).inner_text()  # click tracking
        assert page.locator("#heat-total").inner_text() == "(63 in UTC)"
        cells = [int(t) for t in page.locator("table.heat td").all_inner_texts() if t.strip()]
        assert sum(cells) == 63
        page.screenshot(path=str(OUTPUT / "dashboard.png"), full_page=True)
        assert not errors, errors  # no script error, no refused resource (CSP)
        # AND a wrong key shows the API's own error, in the page
        page.fill("#key", "wan_wrong")
        page.click("#load")
        page.wait_for_selector("#status.error")
        assert "unknown API key" in page.locator("#status").inner_text()
        browser.close()
    assert all(url.startswith(base_url) for url in requests), "the page must load nothing from elsewhere"
    assert (OUTPUT / "dashboard.png").stat().st_size > 20_000
    print(f"dashboard screenshot: {OUTPUT / 'dashboard.png'}")
