"""Callback URLs are the platform's: refused when set and again when posting (no SSRF)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from wa_notify.adapters.callback_http import CallbackHttp, PinnedTransport, RefusedAddress
from wa_notify.services import callbacks

PLATFORM = "https://platform.example.com/hooks/wa"


@pytest.fixture
def in_aws(stack):
    """The stack as deployed: the local stack's http-and-loopback allowance off."""
    stack.deps.settings = stack.deps.settings.model_copy(update={"callback_allow_local": False})
    callbacks._settings_cache.clear()
    return stack


def settings_row(stack):
    return stack.deps.store.tenants.get_settings(stack.dev_tenant["tenant_id"])


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://2852039166/latest/meta-data/",  # decimal spelling of 169.254.169.254
    "https://0x7f.1/",  # hex spelling of 127.0.0.1
    "https://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
    "https://[fd00:ec2::254]/latest/meta-data/",  # AWS metadata over IPv6
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://127.0.0.1:8443/hooks",
    "https://[::1]/",
    "https://localhost/hooks",
    "https://hooks.localhost/",
    "https://0.0.0.0/",
    "https://[::]/",
    "https://10.0.0.1/hooks",
    "https://172.16.0.1/",
    "https://192.168.0.10/",
    "https://[fc00::1]/",
    "https://[fe80::1]/",
    "https://169.254.10.10/",
    "https://100.64.0.1/",
    "http://platform.example.com/hooks/wa",  # not https
])
def test_a_callback_url_into_our_network_is_refused_and_nothing_changes(api, in_aws, url):
    # GIVEN a tenant whose platform is already set
    assert api.call("PUT", "/v1/settings", {"callback_url": PLATFORM})[0] == 200
    before = settings_row(in_aws)
    # WHEN it sets a callback URL that names a metadata, loopback, private or link-local address
    status, data, headers = api.call("PUT", "/v1/settings", {"callback_url": url})
    # THEN 422 names callback_url, and the settings are as they were
    assert status == 422, data
    assert headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in data["errors"]] == ["callback_url"], data
    assert settings_row(in_aws) == before
    assert api.get("/v1/settings")[1]["callback_url"] == PLATFORM


@pytest.mark.parametrize("addresses", [["169.254.169.254"], ["10.0.0.1"], ["93.184.215.14", "fd00:ec2::254"]])
def test_a_name_that_resolves_into_our_network_is_refused_when_set(api, in_aws, addresses):
    # GIVEN a public-looking name whose DNS answers (any one of) our own addresses
    in_aws.dns["hooks.attacker.example"] = addresses
    # WHEN it is set as the callback URL
    status, data, _ = api.call("PUT", "/v1/settings", {"callback_url": "https://hooks.attacker.example/x"})
    # THEN 422 says what it resolves to; nothing is stored
    assert status == 422 and data["errors"][0]["field"] == "callback_url", data
    assert "resolves to" in data["errors"][0]["message"]
    assert "callback_url" not in settings_row(in_aws)


def test_a_name_that_resolves_into_our_network_at_post_time_is_not_posted_nor_retried(api, in_aws, message_body):
    # GIVEN a platform URL that resolved to a public address when it was set
    assert api.call("PUT", "/v1/settings", {"callback_url": PLATFORM})[0] == 200
    api.approved_template()
    # WHEN its DNS then answers the metadata address (rebinding) and statuses are reported
    in_aws.dns["platform.example.com"] = ["169.254.169.254"]
    api.post("/v1/messages", message_body)
    in_aws.drain()
    # THEN nothing is posted, and each callback is parked at once with why, not retried
    assert in_aws.callback_inbox == []
    dlq = in_aws.sqs.receive_message(QueueUrl=in_aws.provisioned.refs["CallbackDLQ"], MaxNumberOfMessages=10)["Messages"]
    parked = [json.loads(m["Body"]) for m in dlq]
    assert sorted(p["event"]["data"]["status"] for p in parked) == ["delivered", "read", "sent"]
    assert all(p["attempt"] == 1 and "169.254.169.254" in p["last_error"] and "metadata" in p["last_error"] for p in parked), parked
    queued = in_aws.sqs.get_queue_attributes(QueueUrl=in_aws.provisioned.refs["CallbackRetryQueue"], AttributeNames=["All"])["Attributes"]
    assert queued["ApproximateNumberOfMessages"] == queued["ApproximateNumberOfMessagesDelayed"] == "0"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hooks", "http://localhost:3000/_local/callbacks/sink", "https://[::1]:8443/"])
def test_the_local_stack_takes_http_and_loopback(api, url):
    # GIVEN the local stack (its setting on); WHEN a developer's own laptop is the platform
    status, data, _ = api.call("PUT", "/v1/settings", {"callback_url": url})
    # THEN it is taken
    assert status == 200 and data["callback_url"] == url, data


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/hooks", "http://[fd00:ec2::254]/",
                                 "http://192.168.1.20:8080/", "http://0.0.0.0:3000/"])
def test_the_local_stack_never_takes_private_link_local_or_metadata(api, url):
    status, data, _ = api.call("PUT", "/v1/settings", {"callback_url": url})
    assert status == 422 and data["errors"][0]["field"] == "callback_url", data


# ---- the adapter over real sockets: the connection goes to the checked address, nowhere else -----
@pytest.fixture
def receiver():
    """A platform on 127.0.0.1 that records what reached it."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen.append({"host": self.headers["Host"], "path": self.path, "body": self.rfile.read(int(self.headers["Content-Length"]))})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


class CountingResolver:
    def __init__(self, *answers):
        self.answers, self.calls = list(answers), []

    def __call__(self, host, port):
        self.calls.append(host)
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def test_the_post_connects_to_the_address_that_was_checked_under_the_urls_own_host(receiver):
    port, seen = receiver
    # GIVEN a name no real DNS knows, which our resolver answers with loopback once and the metadata address after
    resolver = CountingResolver(["127.0.0.1"], ["169.254.169.254"])
    poster = CallbackHttp(timeout=5, resolver=resolver)
    # WHEN a callback is posted to it
    response = poster.post(f"http://platform.test:{port}/hook", content=b"{}", headers={}, allow_local=True)
    # THEN it was resolved once, and reached the checked address with the URL's own Host
    assert response.status_code == 204
    assert resolver.calls == ["platform.test"]
    assert seen == [{"host": f"platform.test:{port}", "path": "/hook", "body": b"{}"}]
    # AND the next post resolves again, and refuses the new answer without connecting
    with pytest.raises(RefusedAddress, match="169.254.169.254"):
        poster.post(f"http://platform.test:{port}/hook", content=b"{}", headers={}, allow_local=True)
    assert len(seen) == 1


def test_a_host_that_was_not_checked_is_never_connected_to(receiver):
    port, seen = receiver
    # GIVEN the pinned transport used without a check first
    client = httpx.Client(transport=PinnedTransport())
    # WHEN it is asked to post, THEN it refuses to connect at all
    with pytest.raises(httpx.ConnectError, match="not checked"):
        client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
    assert seen == []
