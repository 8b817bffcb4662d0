"""Click tracking rules (domain/clicks.py, domain/changes.py): which URLs are rewritten, tokens
stable per message and unguessable without the tenant's key, the first click's callback."""

from wa_notify.domain import analytics, changes, clicks

BASE = "https://api.example.com"
KEY = "k" * 43


def template_request(body_params, suffix="1Z999AA1"):
    return {"messaging_product": "whatsapp", "to": "+886912345678", "type": "template", "template": {
        "name": "order_shipped", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": t} for t in body_params]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": suffix}]}]}}


def run(request, targets=None, *, text_urls=True, message_id="msg_1", key=KEY):
    return clicks.track(request, targets, api_base=BASE, key=key, tenant_id="t_1", message_id=message_id, text_urls=text_urls)


def test_urls_in_body_params_go_through_the_tracker():
    # GIVEN a body param with two URLs and sentence punctuation
    request = template_request(["See https://a.example/x?y=1, or http://b.example/z."])
    # WHEN it is tracked
    out, links = run(request)
    # THEN each URL is <base>/r/<token>, the punctuation stays outside, the original is untouched
    text = out["template"]["components"][0]["parameters"][0]["text"]
    assert [link.url for link in links] == ["https://a.example/x?y=1", "http://b.example/z"]
    assert text == f"See {BASE}/r/{links[0].token}, or {BASE}/r/{links[1].token}."
    assert request["template"]["components"][0]["parameters"][0]["text"].startswith("See https://a.example")


def test_tokens_are_stable_per_message_and_differ_across_messages_and_keys():
    # GIVEN one request rendered for one message twice (a resumed intake), and for another message and key
    request = template_request(["https://a.example/x"])
    first, again = run(request)[1], run(request)[1]
    other_message, other_key = run(request, message_id="msg_2")[1], run(request, key="j" * 43)[1]
    # THEN the same message gets the same token, anything else another; each is 128 bits, URL-safe
    assert first == again
    assert first[0].token not in (other_message[0].token, other_key[0].token)
    assert clicks.is_token(first[0].token)


def test_only_a_tracked_templates_button_suffix_becomes_the_token():
    # GIVEN a button Meta holds as <base>/r/{{1}}, its platform URL kept as a click target
    request = template_request(["no link here"])
    out, links = run(request, {"0": "https://track.example.com/{{1}}"})
    # THEN the suffix sent is the token, and the link leads to the platform's URL with the suffix
    suffix = out["template"]["components"][1]["parameters"][0]["text"]
    assert links == [clicks.Link(suffix, "https://track.example.com/1Z999AA1")]
    # AND without a click target (registered before tracking), the suffix is left alone
    out, links = run(request, None)
    assert out["template"]["components"][1]["parameters"][0]["text"] == "1Z999AA1" and links == []


def test_nothing_changes_when_text_urls_are_not_tracked():
    # GIVEN tracking off for text and no tracked buttons
    request = template_request(["https://a.example/x"])
    # THEN the request is the same and no link is stored
    assert run(request, text_urls=False) == (request, [])


def test_a_param_the_tracker_would_push_over_its_limit_stays_untracked():
    # GIVEN a body param near its 1,024 characters with short URLs that the tracker lengthens
    text = " ".join(["http://a.io"] * 85)
    out, links = run(template_request([text]))
    # THEN it goes out as it was
    assert out["template"]["components"][0]["parameters"][0]["text"] == text and links == []


def test_free_form_text_is_tracked_too():
    # GIVEN a free-form text message with a URL
    request = {"messaging_product": "whatsapp", "type": "text", "text": {"preview_url": False, "body": "Pay: https://pay.example/i/9"}}
    out, links = run(request)
    # THEN its body carries the tracker's URL
    assert out["text"]["body"] == f"Pay: {BASE}/r/{links[0].token}"


def test_registration_points_dynamic_url_buttons_at_the_tracker():
    # GIVEN a template's buttons: a dynamic URL, a static URL, a quick reply
    components = [{"type": "BODY", "text": "Hi"}, {"type": "BUTTONS", "buttons": [
        {"type": "URL", "text": "Track", "url": "https://track.example.com/{{1}}", "example": ["https://track.example.com/1Z"]},
        {"type": "URL", "text": "Shop", "url": "https://shop.example.com"},
        {"type": "QUICK_REPLY", "text": "Stop"}]}]
    # WHEN it is registered with tracking on
    out, targets = clicks.tracked_button_components(components, BASE)
    # THEN only the dynamic one goes to Meta as the tracker, its own URL kept as the target
    assert targets == {"0": "https://track.example.com/{{1}}"}
    assert out[1]["buttons"][0]["url"] == f"{BASE}/r/{{{{1}}}}" and out[1]["buttons"][1]["url"] == "https://shop.example.com"
    assert components[1]["buttons"][0]["url"] == "https://track.example.com/{{1}}"


def test_malformed_tokens_are_refused_before_any_read():
    for raw in ("", "short", "A" * 21, "A" * 23, "A" * 21 + "/", "../../etc/passwd", "https://evil.example"):
        # GIVEN a token that is not 22 base64url characters THEN it is not one
        assert not clicks.is_token(raw), raw


MESSAGE = {"id": "msg_1", "status": "delivered", "template": {"name": "order_shipped", "language": "en_US"},
           "events": {"delivered": "2026-12-01T08:00:05.000Z"}}


def test_the_first_click_raises_message_clicked_and_counts_once():
    # GIVEN a message clicked for the first time, then again
    first = {**MESSAGE, "clicked_at": "2026-12-01T09:00:00.000Z", "clicks": [{"url": "https://a.example", "at": "2026-12-01T09:00:00.000Z"}]}
    second = {**first, "clicks": [*first["clicks"], {"url": "https://a.example", "at": "2026-12-01T09:05:00.000Z"}]}
    effects = changes.message_change("t_1", MESSAGE, first)
    # THEN the first owes message.clicked {id, url, at} and one `clicked`
    assert [(c.type, c.data) for c in effects.callbacks] == [
        ("message.clicked", {"id": "msg_1", "url": "https://a.example", "at": "2026-12-01T09:00:00.000Z"})]
    assert effects.counts == [("2026-12-01T09:00:00.000Z", {"name": "order_shipped", "language": "en_US"}, {"clicked": 1})]
    # AND a later click owes nothing; a redelivered first one has the same callback id
    assert not changes.message_change("t_1", first, second)
    assert changes.message_change("t_1", MESSAGE, first).callbacks[0].id == effects.callbacks[0].id


def test_click_rate_is_clicked_over_sent():
    # GIVEN four sent, one clicked THEN the rate is a quarter
    row = analytics.template_report({"name": "x", "language": "en"}, {"sent": 4, "clicked": 1})
    assert (row["clicked"], row["click_rate"]) == (1, 0.25)


def test_link_preview_fetches_are_told_from_people():
    # GIVEN WhatsApp's and Meta's preview fetchers, and phones' browsers
    previews = ["WhatsApp/2.23.18.78 i", "WhatsApp/2.19.92 A", "WhatsApp", "facebookexternalhit/1.1", "Facebot"]
    people = ["Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
              "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Version/18.1 Mobile/15E148 Safari/604.1", ""]
    # THEN only the fetchers are previews
    assert all(clicks.is_link_preview(ua) for ua in previews)
    assert not any(clicks.is_link_preview(ua) for ua in people)


def test_a_non_ascii_url_goes_out_as_its_uri_form_in_location():
    # GIVEN URLs a platform may put in a text param: non-ASCII host, path and query; and ASCII ones
    from wa_notify.domain.clicks import location_header

    # WHEN they become the redirect's Location header (latin-1 bytes on the wire: the local
    # stack's server crashed on the raw form and left the customer without an answer)
    # THEN non-ASCII is IDNA and percent-encoded, and an ASCII URL is untouched
    assert location_header("https://例子.测试/路径?q=ü#a") == "https://xn--fsqu00a.xn--0zwm56d/%E8%B7%AF%E5%BE%84?q=%C3%BC#a"
    assert location_header("https://example.com/a%20b?x=1&y=2") == "https://example.com/a%20b?x=1&y=2"
    assert location_header("https://bücher.de:8443/ä").encode("latin-1")
