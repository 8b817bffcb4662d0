"""Ready-made templates and flows for the six verticals, and a demo that shows them working.

    python -m infra.examples load [VERTICAL ...] [--url URL] [--api-key KEY]   # make examples
    python -m infra.examples demo [VERTICAL]                                   # make demo
    python -m infra.examples clicks [VERTICAL ...]                             # click rates, every use case

`load` turns click tracking on, PUTs a vertical's `settings.json` if it has one, registers its
templates (waiting for approval) and PUTs its flows on a running stack (`make dev`): templates
with a URL button are registered with it pointing at the tracker. `demo` starts its own local stack, loads the vertical, posts its
sample events, then moves the clock to each planned minute and prints every message as the
sandbox phone receives it; the phone then taps every tracked link once and the demo prints each
template's click rate from the analytics. `clicks` runs every vertical's seeds that way, each on
a fresh local stack, and prints one click-rate table for all the use cases.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from wa_notify.domain.flows import parse_duration

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
VERTICALS = ("retail", "restaurant", "education", "clinic", "bank", "salon")
VERTICAL_ALIASES = {"school": "education", "shop": "retail"}  # make demo VERTICAL=school|shop
DEMO_ZONE = "Asia/Taipei"
DEMO_PHONE = "+886912345678"

Call = Callable[[str, str, Any], tuple[int, Any]]


def read(vertical: str, part: str) -> Any:
    return json.loads((EXAMPLES / vertical / f"{part}.json").read_text())


def load(call: Call, vertical: str, *, wait: Callable[[], None] = lambda: time.sleep(0.1), track_clicks: bool = True) -> dict[str, int]:
    """Register the vertical's templates and flows; templates that exist already are kept. With
    `track_clicks` the tenant tracks clicks first, so URL buttons are registered via the tracker."""
    if track_clicks:
        status, body = call("PUT", "/v1/settings", {"track_clicks": True})
        if status != 200:
            raise RuntimeError(f"{vertical}: track_clicks: {status} {body}")
    if (EXAMPLES / vertical / "settings.json").exists():  # e.g. the salon's buttons that count as ratings
        status, body = call("PUT", "/v1/settings", read(vertical, "settings"))
        if status != 200:
            raise RuntimeError(f"{vertical}: settings: {status} {body}")
    for template in read(vertical, "templates"):
        status, body = call("POST", "/v1/templates", template)
        if status not in (201, 409):
            raise RuntimeError(f"{vertical}: template {template['name']}: {status} {body}")
        deadline = time.monotonic() + 60  # the sandbox approves at once; a starved machine delivers its webhook late
        while True:
            status, body = call("GET", f"/v1/templates/{template['name']}?language={template['language']}", None)
            if body.get("status") == "APPROVED":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{vertical}: template {template['name']} was not approved: {body.get('status')}")
            wait()
    flows = read(vertical, "flows")
    for name, flow in flows.items():
        status, body = call("PUT", f"/v1/flows/{name}", flow)
        if status not in (200, 201):
            raise RuntimeError(f"{vertical}: flow {name}: {status} {body}")
    return {"templates": len(read(vertical, "templates")), "flows": len(flows)}


def resolve_times(value: Any, now: datetime, zone: str = DEMO_ZONE) -> Any:
    """Demo data holds relative times, {"in": "P2D", "at": "10:00"}: make them real typed values."""
    if isinstance(value, dict) and "in" in value:
        local = now.astimezone(ZoneInfo(zone)) + parse_duration(value["in"])
        if "at" in value:
            hour, minute = map(int, value["at"].split(":"))
            local = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if value.get("date_only"):
            return {"date": local.date().isoformat()}
        return {"datetime": local.replace(tzinfo=None).isoformat(timespec="minutes"), "timezone": zone}
    if isinstance(value, dict):
        return {k: resolve_times(v, now, zone) for k, v in value.items()}
    return value


def demo_events(vertical: str, now: datetime, to: str = DEMO_PHONE) -> list[dict[str, Any]]:
    return [{**event, "to": to, "data": resolve_times(event.get("data", {}), now), "timezone": DEMO_ZONE} for event in read(vertical, "demo")]


def tracked_links(messages: list[dict[str, Any]]) -> list[str]:
    """The `/r/<token>` paths the phone received: URL-button suffixes that are tokens, and tracker
    URLs inside texts (the sandbox's `/_local/sandbox/messages` items)."""
    from wa_notify.domain.clicks import URL_IN_TEXT, is_token

    paths: list[str] = []
    for message in messages:
        for component in (message.get("request") or {}).get("template", {}).get("components", []):
            if component.get("sub_type") == "url" and is_token(str(component["parameters"][0].get("text", ""))):
                paths.append("/r/" + component["parameters"][0]["text"])
        for url in URL_IN_TEXT.findall(message.get("text") or ""):
            token = url.rstrip(".,;:!?)]}'\"").rsplit("/r/", 1)[-1]
            if "/r/" in url and is_token(token):
                paths.append("/r/" + token)
    return list(dict.fromkeys(paths))


def click_rates(call: Call) -> list[dict[str, Any]]:
    """Today's analytics rows: template, sent, clicked, click_rate."""
    today = datetime.now(UTC).date().isoformat()
    status, body = call("GET", f"/v1/analytics/templates?from={today}&to={today}", None)
    if status != 200:
        raise RuntimeError(f"analytics: {status} {body}")
    return [{"template": r["template"]["name"], "sent": r["sent"], "clicked": r["clicked"], "click_rate": r["click_rate"]} for r in body["items"]]


def http_call(base_url: str, api_key: str) -> Call:
    import httpx

    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)

    def call(method: str, path: str, body: Any) -> tuple[int, Any]:
        response = client.request(method, path, json=body) if body is not None else client.request(method, path)
        return response.status_code, (response.json() if response.content else None)

    return call


def canonical(vertical: str) -> str:
    """A vertical's folder name; `school` and `shop` are what their owners call them."""
    return VERTICAL_ALIASES.get(vertical, vertical)


def phone_buttons(template: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """The buttons as the phone shows them: each label, and where a URL button leads (the
    template's URL with the request's `{{1}}` suffix, i.e. the tracker's link when tracking is on)."""
    suffixes = {str(c.get("index")): c["parameters"][0].get("text", "") for c in request.get("template", {}).get("components", [])
                if c.get("type") == "button" and c.get("sub_type") == "url" and c.get("parameters")}
    shown = []
    for component in template.get("components", []):
        for index, button in enumerate(component.get("buttons", []) if component.get("type") == "BUTTONS" else []):
            label = f"[{button.get('text', '')}]"
            if button.get("type") == "URL":
                label += " " + str(button.get("url", "")).replace("{{1}}", suffixes.get(str(index), ""))
            shown.append(label)
    return shown


def demo(vertical: str, *, settle_seconds: float = 10.0) -> list[dict[str, Any]]:
    """One vertical on its own local stack (`make demo VERTICAL=...`): loaded, its sample events
    posted, the clock moved to each planned minute, each message printed as the phone receives
    it (text and buttons), every tracked link tapped once, the click rates; returns what the phone
    received (the sandbox's messages)."""
    import httpx

    from infra.local.stack import LocalStack

    vertical = canonical(vertical)
    stack = LocalStack(port=0).start()
    base = f"http://127.0.0.1:{stack.port}"
    try:
        call = http_call(base, stack.dev_tenant["api_key"])
        print(f"local stack on {base}; loading {vertical}: {load(call, vertical)}")
        now = datetime.now(UTC)
        planned: list[dict[str, Any]] = []
        for event in demo_events(vertical, now):
            status, body = call("POST", "/v1/events", event)
            print(f"\nPOST /v1/events {event['type']} -> {status}")
            if status != 202:
                raise RuntimeError(f"{vertical}: event {event['type']}: {status} {body}")
            for m in body["messages"]:
                print(f"  planned {m['template']:24s} {m['status']:9s} {m['send_at'] or 'now'}")
            for s in body["skipped"]:
                print(f"  skipped {s['template']:24s} {s['reason']}")
            planned += body["messages"]
        templates = {(t["name"], t["language"]): t for t in call("GET", "/v1/templates", None)[1]["items"]}
        messages: list[dict[str, Any]] = []

        def phone() -> list[dict[str, Any]]:
            return list(httpx.get(f"{base}/_local/sandbox/messages", params={"to": DEMO_PHONE}).json()["messages"])

        def show(clock: str, expected: int) -> None:
            # Wait for the messages due at this minute and their first status, not a fixed time.
            seen = len(messages)
            deadline = time.monotonic() + settle_seconds
            received = phone()
            while time.monotonic() < deadline and not (len(received) >= seen + expected and all(m["statuses"] for m in received[seen:])):
                time.sleep(0.05)
                received = phone()
            for m in received[seen:]:
                statuses = ", ".join(s["status"] for s in m["statuses"])
                print(f"  [{clock}] phone received: \u201c{m['text']}\u201d  ({statuses})")
                language = m["request"].get("template", {}).get("language", {}).get("code")
                template = templates.get((m["request"].get("template", {}).get("name"), language), {})
                for button in phone_buttons(template, m["request"]):
                    print(f"      button {button}")
            if len(received) == seen:
                print(f"  [{clock}] (nothing for the phone at this minute)")
            messages[:] = received

        print("\nnow:")
        show("now", sum(1 for m in planned if not m["send_at"]))
        for send_at in sorted({m["send_at"] for m in planned if m["send_at"]}):
            print(f"\nPOST /_local/clock {{\"at\": \"{send_at}\"}}")
            httpx.post(f"{base}/_local/clock", json={"at": send_at})
            show(send_at, sum(1 for m in planned if m["send_at"] == send_at))
        links = tracked_links(phone())
        print(f"\nthe phone taps {len(links)} tracked link(s):")
        for path in links:
            print(f"  GET {path} -> {httpx.get(base + path, follow_redirects=False).headers.get('location')}")
        # The stream counts each message's first click: wait for it rather than a fixed time.
        deadline = time.monotonic() + settle_seconds
        rows = click_rates(call)
        while time.monotonic() < deadline and sum(r["clicked"] for r in rows) < len(links):
            time.sleep(0.1)
            rows = click_rates(call)
        print("\nclick rates (GET /v1/analytics/templates):")
        for row in rows:
            rate = "-" if row["click_rate"] is None else f"{100 * row['click_rate']:.0f}%"
            print(f"  {row['template']:28s} sent {row['sent']:3d}  clicked {row['clicked']:3d}  click rate {rate}")
        return phone()
    finally:
        stack.stop()


def run_seeds(vertical: str, *, tap: bool = True) -> list[dict[str, Any]]:
    """One vertical's seeds on a fresh local stack: loaded, its sample events posted, the clock
    moved past every planned minute, every tracked link tapped once; its click-rate rows."""
    import httpx

    from infra.local.stack import LocalStack

    stack = LocalStack(port=0).start()
    base = f"http://127.0.0.1:{stack.port}"
    try:
        call = http_call(base, stack.dev_tenant["api_key"])
        load(call, vertical)
        planned = [m for event in demo_events(vertical, datetime.now(UTC)) for m in call("POST", "/v1/events", event)[1]["messages"]]
        for send_at in sorted({m["send_at"] for m in planned if m["send_at"]}):
            httpx.post(f"{base}/_local/clock", json={"at": send_at})

        def phone() -> list[dict[str, Any]]:
            return list(httpx.get(f"{base}/_local/sandbox/messages", params={"to": DEMO_PHONE}).json()["messages"])

        deadline = time.monotonic() + 15
        while len(phone()) < len(planned) and time.monotonic() < deadline:
            time.sleep(0.1)
        for path in tracked_links(phone()) if tap else []:
            httpx.get(base + path, follow_redirects=False)
        deadline = time.monotonic() + 5  # the stream counts sends and first clicks
        rows = click_rates(call)
        while time.monotonic() < deadline and sum(r["sent"] for r in rows) < len(planned):
            time.sleep(0.2)
            rows = click_rates(call)
        time.sleep(1)
        return click_rates(call)
    finally:
        stack.stop()


def clicks_report(verticals: list[str]) -> None:
    print(f"{'use case':12s} {'template':28s} {'sent':>4s} {'clicked':>7s} {'click rate':>10s}")
    for vertical in verticals:
        rows = run_seeds(vertical)
        sent, clicked = sum(r["sent"] for r in rows), sum(r["clicked"] for r in rows)
        for row in rows:
            rate = "-" if row["click_rate"] is None else f"{100 * row['click_rate']:.0f}%"
            print(f"{vertical:12s} {row['template']:28s} {row['sent']:4d} {row['clicked']:7d} {rate:>10s}")
        overall = f"{100 * clicked / sent:.0f}%" if sent else "-"
        print(f"{vertical:12s} {'(all templates)':28s} {sent:4d} {clicked:7d} {overall:>10s}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("load", "demo", "clicks"))
    parser.add_argument("verticals", nargs="*", choices=(*VERTICALS, *VERTICAL_ALIASES, []), default=[])
    parser.add_argument("--url", default="http://127.0.0.1:3000")
    parser.add_argument("--api-key")
    args = parser.parse_args()
    if args.command == "demo":
        demo((args.verticals or ["clinic"])[0])
        return
    if args.command == "clicks":
        clicks_report([canonical(v) for v in args.verticals] or list(VERTICALS))
        return
    import httpx

    try:
        api_key = args.api_key or httpx.get(f"{args.url}/_local/info").json()["api_key"]
    except httpx.TransportError:
        # Nothing listening is the usual case (no `make dev`, or it runs on another PORT): one line, not a traceback.
        raise SystemExit(f"no local stack at {args.url}: start it with make dev") from None
    call = http_call(args.url, api_key)
    for vertical in [canonical(v) for v in args.verticals] or VERTICALS:
        print(f"{vertical}: {load(call, vertical)}")


if __name__ == "__main__":
    main()
