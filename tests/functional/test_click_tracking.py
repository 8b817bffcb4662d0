"""Click tracking (DESIGN.md "Click tracking"): with `track_clicks`, the URLs a message carries go
out as <api>/r/<token>; GET /r/{token} answers 302 to the URL stored at send time, records the
click on the message, raises message.clicked once and counts `clicked` in analytics."""

import copy
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from wa_notify.adapters.storage import keys
from wa_notify.domain import clicks as click_rules
from wa_notify.services import callbacks

from tests.functional.conftest import load_event
from tests.functional.test_callbacks import received

TODAY = lambda: datetime.now(UTC).date().isoformat()  # noqa: E731 - the sandbox stamps statuses with the real clock
PLAIN = {"name": "visit_note", "language": "en_US", "category": "UTILITY", "parameter_format": "NAMED", "components": [
    {"type": "BODY", "text": "Hi {{first_name}}, your visit summary is at {{link}} and in the app.",
     "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"},
                                            {"param_name": "link", "example": "https://clinic.example.com/v/1"}]}}]}


def track(api, on=True):
    callbacks._settings_cache.clear()
    status, settings, _ = api.call("PUT", "/v1/settings", {"track_clicks": on, "callback_url": "https://platform.example.com/hooks/wa"})
    assert status == 200, settings
    assert settings["track_clicks"] is on
    callbacks._settings_cache.clear()


def send(api, stack, body):
    status, out, _ = api.post("/v1/messages", body)
    assert status == 202, out
    stack.drain()
    return out["id"]


def sent_request(stack, to="+886912345678"):
    return stack.sandbox.received(to)[-1]["request"]


def token_of(url):
    return urlsplit(url).path.rsplit("/", 1)[-1]


def follow(stack, path):
    status, headers, body = stack.request("GET", path)
    return status, headers, body


@pytest.fixture
def tracked(api, stack):
    """Tracking on before the template is registered: its URL button goes to Meta via the tracker."""
    track(api)
    api.approved_template()
    message_id = send(api, stack, load_event("api/create_message.json"))
    return message_id


def test_a_tracked_button_goes_out_as_a_token_and_redirects_to_the_platforms_url(api, stack, tracked):
    # GIVEN a template registered while tracking was on, and a message sent with it
    template = api.get("/v1/templates/order_shipped?language=en_US")[1]
    button = template["components"][-1]["buttons"][0]
    assert button["url"] == f"{stack.deps.settings.public_api_url}/r/{{{{1}}}}"
    assert template["click_targets"] == {"0": "https://track.example.com/{{1}}"}  # where it leads, shown to the platform
    request = sent_request(stack)
    suffix = [c for c in request["template"]["components"] if c.get("sub_type") == "url"][0]["parameters"][0]["text"]
    # THEN the suffix Meta puts after <api>/r/ is a token, not the caller's suffix
    assert click_rules.is_token(suffix) and suffix != "1Z999AA1"
    # WHEN the customer follows the link (the local stack has no key)
    status, headers, _ = follow(stack, f"/r/{suffix}")
    # THEN 302 to the platform's own URL with the caller's suffix, not cached, no referrer
    assert status == 302
    assert headers["location"] == "https://track.example.com/1Z999AA1"
    assert headers["cache-control"] == "no-store" and headers["referrer-policy"] == "no-referrer"
    stack.drain()
    message = api.message(tracked)
    assert [c["url"] for c in message["clicks"]] == ["https://track.example.com/1Z999AA1"]
    assert message["click_count"] == 1


def test_each_request_is_one_click_and_the_first_raises_message_clicked_once(api, stack, tracked):
    # GIVEN a tracked message
    request = sent_request(stack)
    token = [c for c in request["template"]["components"] if c.get("sub_type") == "url"][0]["parameters"][0]["text"]
    # WHEN the link is followed three times
    for _ in range(3):
        assert follow(stack, f"/r/{token}")[0] == 302
        stack.drain()
    # THEN three clicks are recorded, and one message.clicked went to the platform
    message = api.message(tracked)
    assert len(message["clicks"]) == 3 and message["click_count"] == 3
    clicked = received(stack, "message.clicked")
    assert len(clicked) == 1
    assert clicked[0]["data"] == {"id": tracked, "url": "https://track.example.com/1Z999AA1", "at": message["clicks"][0]["at"]}


def test_clicks_beyond_the_cap_are_counted_not_stored(api, stack, tracked):
    # GIVEN a tracked message and its token
    request = sent_request(stack)
    token = [c for c in request["template"]["components"] if c.get("sub_type") == "url"][0]["parameters"][0]["text"]
    # WHEN it is followed more often than clicks are kept
    for _ in range(click_rules.MAX_CLICKS + 2):
        assert follow(stack, f"/r/{token}")[0] == 302
    # THEN the list stops at the cap and the count goes on
    message = api.message(tracked)
    assert len(message["clicks"]) == click_rules.MAX_CLICKS and message["click_count"] == click_rules.MAX_CLICKS + 2


def test_a_url_in_a_text_param_is_tracked(api, stack):
    # GIVEN tracking on and a template whose body carries a link as a parameter
    track(api)
    api.approved_template(copy.deepcopy(PLAIN))
    body = {"to": "+886912345678", "template": {"name": "visit_note", "language": "en_US"},
            "params": {"first_name": "Ana", "link": "https://clinic.example.com/visits/42?x=1."}}
    message_id = send(api, stack, body)
    # THEN the sent parameter carries the tracker's URL, the sentence's dot kept outside it
    text = sent_request(stack)["template"]["components"][0]["parameters"][1]["text"]
    assert text.startswith(f"{stack.deps.settings.public_api_url}/r/") and text.endswith(".")
    # AND following it lands on the original URL
    status, headers, _ = follow(stack, urlsplit(text[:-1]).path)
    assert status == 302 and headers["location"] == "https://clinic.example.com/visits/42?x=1"
    assert api.message(message_id)["clicks"][0]["url"] == "https://clinic.example.com/visits/42?x=1"


def test_without_tracking_nothing_is_rewritten(api, stack):
    # GIVEN tracking off (the default) and a template registered then
    api.approved_template()
    send(api, stack, load_event("api/create_message.json"))
    # THEN the button's suffix goes out as the caller gave it
    request = sent_request(stack)
    assert [c for c in request["template"]["components"] if c.get("sub_type") == "url"][0]["parameters"][0]["text"] == "1Z999AA1"


def test_a_button_of_a_template_registered_before_tracking_stays_untracked(api, stack):
    # GIVEN a template registered while tracking was off (Meta holds the platform's URL), then tracking on
    api.approved_template()
    track(api)
    send(api, stack, load_event("api/create_message.json"))
    # THEN only a suffix could change, which would break the platform's link: it goes out as given
    request = sent_request(stack)
    assert [c for c in request["template"]["components"] if c.get("sub_type") == "url"][0]["parameters"][0]["text"] == "1Z999AA1"


@pytest.mark.parametrize("path", [
    "/r/AAAAAAAAAAAAAAAAAAAAAA",  # well-formed, unknown
    "/r/short", "/r/" + "A" * 200, "/r/..%2F..%2Fetc", "/r/%00", "/r/https:%2F%2Fevil.example",
])
def test_unknown_and_hostile_tokens_are_404_problems(api, stack, tracked, path):
    # WHEN a link that no message holds is followed
    status, headers, body = follow(stack, path)
    # THEN 404 problem+json, no Location anywhere
    assert status == 404, body
    assert headers["content-type"].startswith("application/problem+json")
    assert "location" not in headers and headers["cache-control"] == "no-store"


def test_no_open_redirect_whatever_the_request_says(api, stack, tracked):
    # GIVEN a real token
    token = [c for c in sent_request(stack)["template"]["components"] if c.get("sub_type") == "url"][0]["parameters"][0]["text"]
    # WHEN the request adds a target of its own (query, header)
    status, headers, _ = stack.request("GET", f"/r/{token}?url=https://evil.example.com&next=https://evil.example.com",
                                       headers={"referer": "https://evil.example.com"})
    # THEN it goes only where the token's stored URL says
    assert status == 302 and headers["location"] == "https://track.example.com/1Z999AA1"


def test_a_token_belongs_to_one_tenant_and_message(api, stack, tracked):
    # GIVEN another tenant's tracked message
    other = stack.create_tenant("other")
    from tests.functional.conftest import Api

    other_api = Api(stack, other["api_key"])
    track(other_api)
    other_api.approved_template(copy.deepcopy(PLAIN))
    other_id = send(other_api, stack, {"to": "+886912000777", "template": {"name": "visit_note", "language": "en_US"},
                                       "params": {"first_name": "Bo", "link": "https://b.example.com/x"}})
    text = sent_request(stack, "+886912000777")["template"]["components"][0]["parameters"][1]["text"]
    # WHEN that token is followed
    assert follow(stack, urlsplit(text).path)[0] == 302
    # THEN the click lands on the other tenant's message only
    assert other_api.message(other_id)["click_count"] == 1
    assert api.message(tracked)["click_count"] == 0
    # AND the first tenant cannot see the other's message at all
    assert api.get(f"/v1/messages/{other_id}")[0] == 404


def test_a_token_of_a_message_that_is_gone_is_404(api, stack, tracked):
    # GIVEN a token whose message row no longer exists
    token = [c for c in sent_request(stack)["template"]["components"] if c.get("sub_type") == "url"][0]["parameters"][0]["text"]
    stack.deps.store.table.delete(*keys.message(stack.dev_tenant["tenant_id"], tracked))
    # WHEN it is followed THEN 404, and no message is created by the click
    assert follow(stack, f"/r/{token}")[0] == 404
    assert stack.deps.store.messages.get(stack.dev_tenant["tenant_id"], tracked) is None


def test_analytics_count_clicked_messages_and_their_rate(api, stack, tracked):
    # GIVEN two tracked messages of one template, one of them clicked twice
    send(api, stack, {**load_event("api/create_message.json"), "to": "+886912000002"})
    token = [c for c in sent_request(stack)["template"]["components"] if c.get("sub_type") == "url"][0]["parameters"][0]["text"]
    follow(stack, f"/r/{token}")
    follow(stack, f"/r/{token}")
    stack.drain()
    # WHEN the platform asks for today's funnel
    status, report, _ = api.get(f"/v1/analytics/templates?from={TODAY()}&to={TODAY()}")
    # THEN one message clicked out of two sent
    assert status == 200, report
    row = report["items"][0]
    assert (row["sent"], row["clicked"], row["click_rate"]) == (2, 1, 0.5)


def test_turning_tracking_on_needs_a_public_url(api, stack, monkeypatch):
    # GIVEN a deployment without PUBLIC_API_URL
    monkeypatch.setattr(stack.deps, "settings", stack.deps.settings.model_copy(update={"public_api_url": ""}))
    # WHEN tracking is turned on THEN 422 naming the field, and nothing changed
    status, body, _ = api.call("PUT", "/v1/settings", {"track_clicks": True})
    assert status == 422 and body["errors"][0]["field"] == "track_clicks"
    assert api.get("/v1/settings")[1]["track_clicks"] is False


@pytest.mark.parametrize("vertical", ["retail", "restaurant", "education", "clinic", "bank", "salon"])
def test_the_seeds_measure_click_rates_for_every_use_case(stack, vertical):
    # GIVEN a vertical loaded by the seed loader (tracking on before its templates are registered)
    from infra.examples import click_rates, demo_events, load, read, tracked_links
    from tests.functional.test_examples import in_process

    call = in_process(stack, stack.dev_tenant["api_key"])
    load(call, vertical, wait=stack.drain)
    with_url = {t["name"] for t in read(vertical, "templates")
                if any(b.get("type") == "URL" for c in t["components"] for b in c.get("buttons", []))}
    # WHEN its sample events run to the end and the phone taps every tracked link
    planned = []
    for event in demo_events(vertical, datetime.now(UTC)):
        planned += call("POST", "/v1/events", event)[1]["messages"]
    stack.drain()
    for send_at in sorted({m["send_at"] for m in planned if m["send_at"]}):
        stack.request("POST", "/_local/clock", body={"at": send_at})
        stack.drain()
    links = tracked_links(stack.sandbox.received())
    for path in links:
        assert stack.request("GET", path)[0] == 302, path
    stack.drain()
    # THEN every template that went out has a click rate, and each with a URL button that went out was clicked
    rows = {r["template"]: r for r in click_rates(call)}
    assert rows and all(r["click_rate"] is not None for r in rows.values() if r["sent"])
    sent_with_url = with_url & set(rows)
    assert bool(sent_with_url) == bool(with_url), (with_url, rows)  # the seeds send their URL templates
    assert len(links) >= len(sent_with_url)
    assert all(rows[name]["clicked"] >= 1 for name in sent_with_url), rows


def _count_requests(stack):
    seen = []
    stack.deps.store.table.client.meta.events.register("before-parameter-build.dynamodb.*", lambda model, **_: seen.append(model.name))
    return seen


def test_a_click_costs_one_read_and_one_write_and_a_tracked_intake_one_put_per_url(api, stack, tracked):
    # GIVEN a tracked message, and the table's requests counted from now on
    token = [c for c in sent_request(stack)["template"]["components"] if c.get("sub_type") == "url"][0]["parameters"][0]["text"]
    seen = _count_requests(stack)
    # WHEN the link is followed once (the stream's work is not the click's)
    assert follow(stack, f"/r/{token}")[0] == 302
    # THEN the click was one GetItem (the token) and one UpdateItem (the message)
    assert sorted(seen) == ["GetItem", "UpdateItem"], seen
    # AND a tracked message costs its untracked intake plus one PutItem (its one URL)
    seen.clear()
    assert api.post("/v1/messages", {**load_event("api/create_message.json"), "to": "+886912000010"})[0] == 202
    tracked_intake = list(seen)
    track(api, on=False)
    api.post("/v1/templates", {**load_event("api/create_template.json"), "name": "order_shipped_plain",
                               "components": [{**c, "text": "Plain. " + c["text"]} if c["type"] == "BODY" else c
                                              for c in load_event("api/create_template.json")["components"]]})
    stack.drain()
    seen.clear()
    assert api.post("/v1/messages", {**load_event("api/create_message.json"), "to": "+886912000011",
                                     "template": {"name": "order_shipped_plain", "language": "en_US"}})[0] == 202
    # (writes compared: intake's reads depend on its 2 s copy of the template, not on tracking)
    writes = sorted(o for o in tracked_intake if o != "GetItem")
    assert writes == sorted([*(o for o in seen if o != "GetItem"), "PutItem"]), (tracked_intake, seen)


def test_whatsapps_link_preview_fetch_is_redirected_but_not_a_click(api, stack, tracked):
    # GIVEN a tracked message's token
    token = [c for c in sent_request(stack)["template"]["components"] if c.get("sub_type") == "url"][0]["parameters"][0]["text"]
    # WHEN WhatsApp's preview fetcher follows it
    status, headers, _ = stack.request("GET", f"/r/{token}", headers={"user-agent": "WhatsApp/2.23.18.78 i"})
    stack.drain()
    # THEN it is redirected like anyone, and no click is recorded, no message.clicked sent
    assert status == 302 and headers["location"] == "https://track.example.com/1Z999AA1"
    assert api.message(tracked)["click_count"] == 0 and not received(stack, "message.clicked")
