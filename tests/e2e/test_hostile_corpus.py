"""A hostile-input corpus against every POST and PUT route of the running local stack.

Each route has a valid seed request. The corpus mutates every field of it (and every key) into
what a stranger or an attacker sends, and adds whole-body cases (invalid UTF-8, empty, `null`,
200 KB of nesting, odd content types). For every case: never a 5xx; a refused case (4xx) writes
nothing; the cases of the classes that can never be valid must be refused. The routes come from
the served OpenAPI document, so a new POST/PUT route without a seed fails the suite.

"Nothing written" is checked through the API: each route's own read (the template, flow and
contact listings, the settings, whose `quota_used_today` counts every message a request planned),
compared before and after each refused case. Deterministic: no randomness at all.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).parents[2]
pytestmark = pytest.mark.e2e

RAW = "@@raw-{}@@"  # a placeholder string, replaced in the serialized body by a raw JSON literal
PARAMS = {"order_id": "A-1001", "first_name": "Ana", "total": {"amount": 1580, "currency": "TWD"}, "eta": {"date": "2024-09-07"}}
SOON = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
VISIT = (SOON + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

TEMPLATE = json.loads((ROOT / "events/api/create_template.json").read_text())
NEW_TEMPLATE = {"name": "corpus_new", "language": "en_US", "category": "UTILITY", "parameter_format": "NAMED", "components": [
    {"type": "BODY", "text": "Hello {{first_name}}, your parcel arrives {{eta}}.",
     "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Pablo"}, {"param_name": "eta", "example": "May 7"}]}},
    {"type": "FOOTER", "text": "Lucky Shrub"},
    {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://track.example.com/{{1}}", "example": ["https://track.example.com/1Z9"]}]}]}


@dataclass
class Seed:
    path: str  # the concrete path of the valid request
    body: Any
    state: str  # the read that shows what this route writes
    # after an accepted request: the read that says its background work (a campaign's planning) is done
    done: Callable[[dict[str, Any]], str] | None = None


SEEDS: dict[tuple[str, str], Seed] = {
    ("POST", "/v1/templates"): Seed("/v1/templates", NEW_TEMPLATE, "/v1/templates?limit=100"),
    ("POST", "/v1/templates/{name}/preview"): Seed("/v1/templates/order_shipped/preview", {
        "language": "en_US", "params": PARAMS, "button_params": {"0": "1Z999"}, "to": "+886912345678"}, "/v1/settings"),
    ("POST", "/v1/messages"): Seed("/v1/messages", {
        "to": "+886900000002", "template": {"name": "order_shipped", "language": "en_US"}, "params": PARAMS,
        "button_params": {"0": "1Z999"}, "priority": "high", "send_at": SOON.isoformat(), "metadata": {"order": "A-1001", "n": 1}}, "/v1/settings"),
    ("POST", "/v1/campaigns"): Seed("/v1/campaigns", {
        "name": "corpus", "template": "order_shipped", "language": "en_US", "segment": {"tag": "corpus"}, "params": PARAMS,
        "button_params": {"0": "1Z999"}, "send_window": {"start": SOON.isoformat(), "end": (SOON + timedelta(days=1)).isoformat()}},
        "/v1/settings", done=lambda accepted: f"/v1/campaigns/{accepted['id']}"),
    ("PUT", "/v1/flows/{name}"): Seed("/v1/flows/corpus_new", {
        "trigger": "corpus.other", "cancel_on": ["corpus.cancelled"], "reschedule_on": ["corpus.moved"], "language": "en_US",
        "quiet_hours": {"start": "21:00", "end": "08:00"}, "steps": [{"template": "order_shipped", "at": "now", "button_params": {"0": "tracking"}},
                                                                      {"template": "order_shipped", "at": {"before": "visit_at", "offset": "PT24H"},
                                                                       "button_params": {"0": "tracking"}}]},
        "/v1/flows?limit=100"),
    ("POST", "/v1/events"): Seed("/v1/events", {
        "type": "corpus.booked", "key": "corpus-1", "to": "+886900000003", "timezone": "Asia/Taipei",
        "data": {**PARAMS, "tracking": "1Z999", "visit_at": {"datetime": VISIT, "timezone": "Asia/Taipei"}}}, "/v1/settings"),
    ("PUT", "/v1/contacts/{phone}"): Seed("/v1/contacts/+886900000004", {
        "name": "Ana", "locale": "en_US", "timezone": "Asia/Taipei", "tags": ["vip"], "attributes": {"annual_spend": 1200, "city": "Taipei"},
        "opted_out": False}, "/v1/contacts/+886900000004"),
    ("PUT", "/v1/settings"): Seed("/v1/settings", {
        "business_hours": {"timezone": "Asia/Taipei", "start": "09:00", "end": "18:00", "days": [1, 2, 3, 4, 5]},
        "out_of_hours_reply": "We are closed", "value_tiers": [{"tag": "vip", "min_spend": 1000.5}], "reply_actions": {"Cancel": "cancel"},
        "auto_replies": [{"id": "hours", "keywords": ["hours"], "reply": "9 to 6"}], "throughput_per_second": 80}, "/v1/settings"),
}


@dataclass
class Case:
    name: str
    body: bytes
    refused: bool  # True: no valid request looks like this, so it must be a 4xx
    content_type: str = "application/json"
    path: str | None = None  # another concrete path (path-parameter cases)


# ---- building the cases ---------------------------------------------------------------------------------

def nodes(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) below the root, in document order."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*path, key), item
        yield from nodes(item, (*path, key))


def render(seed: Any, path: tuple, replacement: Any = None, *, raw: str | None = None, key_suffix: str | None = None) -> bytes:
    """The seed with the node at `path` replaced (by a value, or by raw JSON text), or its key suffixed by raw text."""
    doc = copy.deepcopy(seed)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    placeholder = RAW.format(0)
    if key_suffix is not None:
        parent[f"{path[-1]}{placeholder}"] = parent.pop(path[-1])
        return json.dumps(doc).replace(placeholder, key_suffix).encode("utf-8", "surrogatepass")
    parent[path[-1]] = placeholder if raw is not None else replacement
    text = json.dumps(doc)
    return (text.replace(json.dumps(placeholder), raw) if raw is not None else text).encode("utf-8", "surrogatepass")


def label(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


DEEP = "[" * 100_000 + "]" * 100_000  # 200 KB: RecursionError in Python's json
BIG_INT = "9" * 5000  # over Python's 4,300-digit int() limit
LONG_ZONE = "Europe/" + "A" * 300  # zoneinfo raises OSError over 255 characters
OUT_OF_RANGE = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00")
TIME_KEYS = {"send_at", "datetime", "date", "start", "end"}


def looks_like_a_time(key: Any, value: Any) -> bool:
    return key in TIME_KEYS and isinstance(value, str) and value[:1].isdigit() and "-" in value


def field_cases(seed: Any) -> Iterator[Case]:
    """Every field of the seed, one hostile value at a time."""
    for i, (path, value) in enumerate(nodes(seed)):
        where, key = label(path), path[-1]
        surrogate = ("\\ud800", "\\udfff")[i % 2]
        # refused whatever the field: text that is not text, numbers no JSON parser should give Python, nesting
        if isinstance(value, str):
            yield Case(f"{where}: lone surrogate", render(seed, path, raw=json.dumps(value)[:-1] + surrogate + '"'), True)
        if isinstance(key, str):
            yield Case(f"{where}: lone surrogate in the key", render(seed, path, key_suffix=surrogate), True)
        # the parser's limits hold wherever the literal is: one of them per field, in turn
        name, literal = (("5000-digit integer", BIG_INT), ("NaN/Infinity", ("NaN", "Infinity", "-Infinity")[i % 3]),
                         ("40 levels deep", "[" * 40 + "]" * 40))[i % 3]
        yield Case(f"{where}: {name}", render(seed, path, raw=literal), True)
        # value-level classes: refused in every field they can reach
        if key == "timezone":
            yield Case(f"{where}: 300-character zone", render(seed, path, LONG_ZONE), True)
            yield Case(f"{where}: unknown zone", render(seed, path, "Mars/Base"), True)
        if looks_like_a_time(key, value):
            for moment in OUT_OF_RANGE:
                yield Case(f"{where}: {moment}", render(seed, path, moment), True)
        if key in ("to", "phone"):
            yield Case(f"{where}: ++ phone", render(seed, path, "++886912345678"), True)
        # wrong types, overlong and control characters: some may be valid (null for an optional field); never a 5xx
        wrong = ([True, 0, None, ["x"]] if isinstance(value, str) else ["x", True, None] if not isinstance(value, (dict, list))
                 else ["x", None, {} if isinstance(value, list) else []])
        for other in wrong:
            yield Case(f"{where}: {json.dumps(other)}", render(seed, path, other), False)
        if isinstance(value, str):
            yield Case(f"{where}: 20,000 characters", render(seed, path, value + "x" * 20_000), False)
            yield Case(f"{where}: control characters", render(seed, path, value + "\u0000\u0007\u001b\u007f\u2028"), False)


def body_cases(seed: Any) -> Iterator[Case]:
    """The whole body: what is not a JSON object, and odd media types."""
    valid = json.dumps(seed).encode()
    first = next(nodes(seed))[0]
    with_surrogate = render(seed, first, key_suffix="\\ud800")
    yield from (Case("invalid UTF-8", b'{"a": "\xff\xfe"}', True), Case("empty body", b"", True), Case("null", b"null", True),
                Case("a list", b"[]", True), Case("a string", b'"x"', True), Case("a number", b"1", True),
                Case("truncated JSON", valid[:-1], True), Case("200 KB of nested arrays", DEEP.encode(), True),
                Case("a 5000-digit integer", BIG_INT.encode(), True), Case("NaN", b"NaN", True))
    for content_type in ("text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json"):
        yield Case(f"content type {content_type}", valid, True, content_type)
    for content_type in ("application/merge-patch+json", "application/vnd.api+json", "APPLICATION/JSON", "application/json; charset=UTF-8"):
        yield Case(f"content type {content_type}, a lone surrogate", with_surrogate, True, content_type)


def path_cases(method: str, route: str, seed: Seed) -> Iterator[Case]:
    """Hostile path parameters: the route's template with each one replaced."""
    if "{" not in route:
        return
    prefix = route.split("{")[0]
    rest = seed.path[len(prefix):].split("/", 1)
    suffix = "/" + rest[1] if len(rest) > 1 else ""
    body = json.dumps(seed.body).encode()
    for name, param, refused in (("++ phone", "++886912345678", route.endswith("{phone}")), ("3000 characters", "a" * 3000, False),
                                 ("an encoded lone surrogate", "%ED%A0%80", False), ("NUL", "a%00b", False),
                                 ("an encoded slash", "a%2Fb", False), ("dots", "..", False)):
        yield Case(f"path {name}", body, refused, path=prefix + param + suffix)


def cases_for(method: str, route: str) -> list[Case]:
    seed = SEEDS[(method, route)]
    return [*field_cases(seed.body), *body_cases(seed.body), *path_cases(method, route, seed)]


# ---- running them ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus_client(base_url) -> httpx.Client:
    """A tenant of its own, with what the seeds refer to: an approved template, a flow, a tagged contact."""
    info = httpx.post(f"{base_url}/_local/tenants", json={"name": "hostile corpus"}).json()
    client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {info['api_key']}"}, timeout=30)
    assert client.post("/v1/templates", json=TEMPLATE).status_code == 201
    deadline = time.monotonic() + 15
    while client.get("/v1/templates/order_shipped", params={"language": "en_US"}).json()["status"] != "APPROVED":
        assert time.monotonic() < deadline, "the template was not approved"
        time.sleep(0.1)
    flow = {**SEEDS[("PUT", "/v1/flows/{name}")].body, "trigger": "corpus.booked"}
    assert client.put("/v1/flows/corpus_flow", json=flow).status_code in (200, 201)
    assert client.put("/v1/contacts/+886900000001", json={"name": "Corpus", "tags": ["corpus"]}).status_code in (200, 201)
    for (method, _), seed in SEEDS.items():  # each seed is valid: the corpus mutates requests that work
        answer = client.request(method, seed.path, json=seed.body)
        assert answer.status_code < 300, (seed.path, answer.text)
    return client


def state_of(client: httpx.Client, path: str) -> Any:
    answer = client.get(path)
    return answer.status_code, answer.json()


def test_every_post_and_put_route_has_a_corpus(base_url):
    # GIVEN the routes the running API documents that take a body
    document = httpx.get(f"{base_url}/v1/openapi.json").json()
    # (one that takes no body, POST /v1/templates/sync, has nothing to mutate: its query is fuzzed by
    # test_contract_fuzz.py and its hostile cursors by test_template_sync.py)
    routes = {(method.upper(), path) for path, item in document["paths"].items() for method, operation in item.items()
              if method in ("post", "put") and "requestBody" in operation}
    # THEN each that takes a body has a seed, and no seed is left for a route that is gone
    assert routes == set(SEEDS), f"routes without a corpus seed: {routes - set(SEEDS)}; seeds without a route: {set(SEEDS) - routes}"


def settle(client: httpx.Client, seed: Seed, answer: httpx.Response) -> None:
    """Wait for an accepted request's background work, so what it writes is not blamed on the next case."""
    if seed.done is None:
        return
    deadline = time.monotonic() + 5
    while client.get(seed.done(answer.json())).json().get("status") == "planning" and time.monotonic() < deadline:
        time.sleep(0.05)


def verdict(case: Case, answer: httpx.Response) -> str | None:
    """What is wrong with the answer itself (the write check is the caller's)."""
    if answer.status_code >= 500:
        return f"{case.name}: {answer.status_code} {answer.text[:200]}"
    if answer.status_code >= 400 and not answer.headers.get("content-type", "").startswith("application/problem+json"):
        return f"{case.name}: {answer.status_code} is not problem+json"
    if answer.status_code < 400 and case.refused:
        return f"{case.name}: accepted with {answer.status_code}"
    return None


@pytest.mark.parametrize(("method", "route"), list(SEEDS), ids=[f"{m} {r}" for m, r in SEEDS])
def test_hostile_requests_never_get_a_5xx_and_refused_ones_write_nothing(corpus_client, method, route):
    seed = SEEDS[(method, route)]
    cases = cases_for(method, route)
    failures: list[str] = []

    def send(case: Case) -> httpx.Response:
        answer = corpus_client.request(method, case.path or seed.path, content=case.body, headers={"content-type": case.content_type})
        failures.extend(filter(None, [verdict(case, answer)]))
        if answer.status_code < 300:
            settle(corpus_client, seed, answer)
        return answer

    before = state_of(corpus_client, seed.state)
    # WHEN the cases that no valid request looks like are sent, in groups with one read of the state after each
    must_refuse = [case for case in cases if case.refused]
    for start in range(0, len(must_refuse), 15):
        group = must_refuse[start : start + 15]
        accepted = [case for case in group if send(case).status_code < 300]
        after = state_of(corpus_client, seed.state)
        # THEN they are refused, and none of them wrote
        if after != before and not accepted:
            failures.append("refused but something wrote, one of: " + "; ".join(case.name for case in group))
        before = after
    # WHEN the cases that may be valid (null for an optional field) are sent, each followed by a read
    for case in (case for case in cases if not case.refused):
        answer = send(case)
        after = state_of(corpus_client, seed.state)
        # THEN never a 5xx, and a refusal wrote nothing
        if answer.status_code >= 400 and after != before:
            failures.append(f"{case.name}: refused with {answer.status_code} but wrote")
        before = after
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures)


# ---- the webhook and the server itself, over the socket ----------------------------------------------------

def test_the_webhook_refuses_strangers_with_401_and_acknowledges_anything_signed(base_url):
    import hashlib
    import hmac

    info = httpx.get(f"{base_url}/_local/info").json()
    url = f"{base_url}/webhooks/whatsapp"
    # WHEN the handshake token or the signature has non-ASCII characters (raw UTF-8 bytes in the header)
    status = httpx.get(url, params={"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "é" * 8}).status_code
    signed_wrong = httpx.post(url, content=b"{}", headers={"x-hub-signature-256": "sha256=é".encode()}).status_code
    # THEN 401, as for any wrong token or signature (it was a 500 anyone could cause)
    assert (status, signed_wrong) == (401, 401)
    # WHEN bodies Meta never sends arrive with a valid signature
    for body in (b'{"entry": 5}', b'{"entry": [{"changes": [{"field": "messages", "value": {"statuses": 5, "messages": [1]}}]}]}',
                 b'{"entry": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b'{"entry": [{"id": "\\ud800"}]}', b"\xff", b""):
        signature = "sha256=" + hmac.new(info["app_secret"].encode(), body, hashlib.sha256).hexdigest()
        answer = httpx.post(url, content=body, headers={"x-hub-signature-256": signature, "content-type": "application/json"})
        # THEN each is acknowledged, so Meta does not deliver it again and again
        assert answer.status_code == 200, (body[:40], answer.text)


def test_a_wrong_method_is_405_with_allow_over_the_socket(base_url):
    for method, path, allow in (("PATCH", "/v1/messages", "GET, POST"), ("POST", "/v1/contacts/+886912345678", "DELETE, GET, PUT"),
                                ("DELETE", "/v1/settings", "GET, PUT"), ("PUT", "/webhooks/whatsapp", "GET, POST")):
        answer = httpx.request(method, f"{base_url}{path}")
        assert (answer.status_code, answer.headers.get("allow")) == (405, allow), (method, path)
        assert answer.headers["content-type"] == "application/problem+json"
