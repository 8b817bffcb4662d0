"""The dev server's socket and `LocalStack.request` (what the functional tier calls) route through
one function: the same request gets the same answer either way, refusals included. If either
path grew routing of its own again, one of these would differ."""

import json
import socket

import pytest
from wa_notify.services import statuses, tenants

from infra.local.stack import MAX_BODY_BYTES, LocalStack

pytestmark = pytest.mark.e2e

# Headers only a socket server adds (framing and identity), not part of the answer itself.
TRANSPORT_HEADERS = {"content-length", "date", "server"}


@pytest.fixture(scope="module")
def served():
    tenants.clear_key_cache()
    statuses._tenant_by_pnid.clear()
    stack = LocalStack(port=0).start()
    yield stack
    stack.stop()


def over_the_socket(stack: LocalStack, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP/1.1 request (no client library adding or fixing anything) and its answer."""
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((stack.host, stack.port), timeout=30) as conn:
        conn.sendall(head.encode() + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    raw_headers, _, out = rest.partition(b"\r\n\r\n")
    parsed = {}
    for line in raw_headers.decode().split("\r\n"):
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return int(status_line.split(b" ")[1]), parsed, out


def cases(stack: LocalStack) -> list[tuple[str, str, str, dict[str, str], bytes]]:
    key = {"authorization": f"Bearer {stack.dev_tenant['api_key']}"}
    verify = f"hub.mode=subscribe&hub.verify_token={stack.verify_token}&hub.challenge=4242"
    tenant = json.dumps({"name": "same-answer"}).encode()
    return [
        ("405 on an API route", "DELETE", "/v1/templates", {}, b""),
        ("405 on a local route", "GET", "/_local/tenants", {}, b""),
        ("404 on an unknown path", "GET", "/nowhere", {}, b""),
        ("404 on an unknown local path", "GET", "/_local/nowhere", {}, b""),
        ("413 for an oversized Content-Length", "POST", "/v1/messages", {"content-length": str(MAX_BODY_BYTES + 1)}, b""),
        ("413 for a huge Content-Length on a local route", "POST", "/_local/tenants", {"content-length": "9" * 5000}, b""),
        ("400 for a Content-Length that is not a number", "POST", "/v1/messages", {"content-length": "-5"}, b""),
        ("a local route", "GET", "/_local/sandbox/config", {}, b""),
        ("a local route's 422", "POST", "/_local/tenants", {"content-type": "application/json", "content-length": "2"}, b"{}"),
        ("a local route's 400", "POST", "/_local/clock", {"content-type": "application/json", "content-length": "1"}, b"{"),
        ("an API route", "GET", "/v1/health", {}, b""),
        ("an API route with its key", "GET", "/v1/templates", key, b""),
        ("an API route's 401", "GET", "/v1/templates", {}, b""),
        ("an API route's 404", "GET", "/v1/messages/msg_nope", key, b""),
        ("an API route's 415", "POST", "/v1/messages", {**key, "content-type": "text/plain", "content-length": "2"}, b"hi"),
        ("the webhook route", "GET", f"/webhooks/whatsapp?{verify}", {}, b""),
        ("a local route that writes", "POST", "/_local/callbacks/sink?n=1", {"content-length": str(len(tenant))}, tenant),
    ]


def test_the_socket_and_request_give_the_same_answer(served):
    # GIVEN a served local stack and requests across every kind of route and refusal
    for name, method, path, headers, body in cases(served):
        sent = {"host": "local", "connection": "close", **headers}
        # WHEN each is sent over the socket and through request(), with the same headers and body
        socket_status, socket_headers, socket_body = over_the_socket(served, method, path, sent, body)
        status, resp_headers, out = served.request(method, path, body=body, headers=sent)
        # THEN status, every header of the answer and the body are the same
        answer = {k: v for k, v in socket_headers.items() if k not in TRANSPORT_HEADERS}
        assert (status, resp_headers, out) == (socket_status, answer, socket_body), name


def test_refusals_and_405s_carry_what_they_promise(served):
    # GIVEN the same stack
    # WHEN a wrong method, an oversized body and a bad length arrive through request()
    wrong_method = served.request("DELETE", "/v1/templates")
    too_large = served.request("POST", "/v1/messages", headers={"Content-Length": str(MAX_BODY_BYTES + 1)})
    not_a_length = served.request("POST", "/_local/tenants", headers={"Content-Length": "abc"})
    # THEN each has its status and the headers that go with it, as the socket gives them
    assert wrong_method[0] == 405 and wrong_method[1]["allow"] == "GET, POST"
    assert too_large[0] == 413 and too_large[1]["connection"] == "close"
    assert not_a_length[0] == 400 and not_a_length[1]["content-type"] == "application/problem+json"
    assert json.loads(too_large[2])["status"] == 413
