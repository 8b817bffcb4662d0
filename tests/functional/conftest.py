"""Functional tier: the real handlers in process under moto, wired from template.yaml.

`LocalStack(serve=False)` is the local stack without its HTTP socket, pollers or timer:
the test drives the queues (`drain`) and the clock itself, so nothing sleeps.
"""

import copy
import json
from pathlib import Path

import pytest
from wa_notify.services import statuses, tenants

from infra.local.stack import LocalStack

EVENTS = Path(__file__).parents[2] / "events"


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


class Api:
    def __init__(self, stack: LocalStack, api_key: str):
        self.stack = stack
        self.key = api_key

    def call(self, method, path, body=None, headers=None, key="default"):
        hdrs = {} if key is None else {"authorization": f"Bearer {self.key if key == 'default' else key}"}
        hdrs.update(headers or {})
        status, resp_headers, raw = self.stack.request(method, path, body=body, headers=hdrs)
        data = json.loads(raw) if raw and resp_headers.get("content-type", "").startswith(("application/json", "application/problem+json")) else raw
        return status, data, resp_headers

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def approved_template(self, payload=None):
        payload = copy.deepcopy(payload or load_event("api/create_template.json"))
        status, body, _ = self.post("/v1/templates", payload)
        assert status == 201, body
        self.stack.drain()  # the approval webhook goes through the events queue
        return payload

    def message(self, message_id):
        status, body, _ = self.get(f"/v1/messages/{message_id}")
        assert status == 200, body
        return body


@pytest.fixture
def stack():
    tenants.clear_key_cache()
    statuses._tenant_by_pnid.clear()
    s = LocalStack().start(serve=False)
    yield s
    s.stop()


@pytest.fixture
def api(stack):
    return Api(stack, stack.dev_tenant["api_key"])


@pytest.fixture
def message_body():
    return load_event("api/create_message.json")
