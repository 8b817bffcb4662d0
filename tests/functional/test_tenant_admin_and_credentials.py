"""Operators onboard tenants with `python -m wa_notify.admin`; each tenant's WhatsApp credentials
live in Secrets Manager, are read through Powertools Parameters (cached) and refetched after a 401."""

import io
import json

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from wa_notify import admin
from wa_notify.services import tenants

from tests.functional.conftest import Api, load_event

PREFIX = "wa-notify/dev/tenants/"


@pytest.fixture(autouse=True)
def fresh_parameter_cache():
    parameters.clear_caches()
    yield
    parameters.clear_caches()


def run_admin(stack, monkeypatch, *args, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    code = admin.main(["--table", stack.deps.settings.table_name, "--secret-prefix", PREFIX, *args], out=out)
    return code, (json.loads(out.getvalue()) if out.getvalue() else None)


def secret_of(tenant_id):
    value = boto3.client("secretsmanager").get_secret_value(SecretId=PREFIX + tenant_id)["SecretString"]
    return json.loads(value)


def test_create_prints_the_key_once_and_keeps_the_token_in_secrets_manager(stack, monkeypatch, capsys):
    # GIVEN an operator with the platform's WhatsApp ids and its access token on stdin
    # WHEN the tenant is created
    code, created = run_admin(stack, monkeypatch, "tenants", "create", "--name", "Acme Clinics", "--phone-number-id", "106540352242922",
                              "--waba-id", "102290129340398", "--access-token-stdin", stdin="EAAG-acme-token\n")
    # THEN the API key is printed, works at once, and is stored only as a hash
    assert code == 0
    assert created["api_key"] and created["tenant_id"].startswith("ten_")
    assert "cannot be shown again" in capsys.readouterr().err
    status, settings, _ = Api(stack, created["api_key"]).get("/v1/settings")
    assert status == 200, settings
    profile = stack.deps.store.tenants.get(created["tenant_id"])
    assert created["api_key"] not in json.dumps(profile, default=str)
    # AND the token is in the tenant's secret, never in the table or the output
    assert secret_of(created["tenant_id"]) == {"phone_number_id": "106540352242922", "waba_id": "102290129340398",
                                               "access_token": "EAAG-acme-token"}
    assert "EAAG-acme-token" not in json.dumps(created) and "EAAG-acme-token" not in json.dumps(profile, default=str)
    # AND list shows it without keys, hashes or tokens
    code, listed = run_admin(stack, monkeypatch, "tenants", "list")
    mine = [t for t in listed if t["tenant_id"] == created["tenant_id"]]
    assert mine == [{"tenant_id": created["tenant_id"], "name": "Acme Clinics", "phone_number_id": "106540352242922",
                     "waba_id": "102290129340398", "created_at": created["created_at"]}]
    assert stack.dev_tenant["tenant_id"] in {t["tenant_id"] for t in listed}


def test_a_number_already_registered_creates_nothing(stack, monkeypatch):
    # GIVEN the dev tenant's phone number id
    taken = stack.dev_tenant["phone_number_id"]
    before = len(tenants.list_tenants(stack.deps))
    # WHEN an operator tries to register it again
    code, out = run_admin(stack, monkeypatch, "tenants", "create", "--name", "dup", "--phone-number-id", taken, "--waba-id", "999",
                          "--access-token-stdin", stdin="tok\n")
    # THEN it fails, and neither a tenant nor a secret is left behind
    assert code == 1 and out is None
    assert len(tenants.list_tenants(stack.deps)) == before
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []


def test_rotate_key_replaces_the_key_atomically(stack, monkeypatch):
    # GIVEN a tenant with a working key
    _, created = run_admin(stack, monkeypatch, "tenants", "create", "--name", "Salon", "--phone-number-id", "1001", "--waba-id", "2001")
    old = created["api_key"]
    # WHEN its key is rotated
    code, rotated = run_admin(stack, monkeypatch, "tenants", "rotate-key", created["tenant_id"])
    tenants.clear_key_cache()  # a new container: the one-minute key cache is per container
    # THEN the new key works and the old one is refused
    assert code == 0 and rotated["api_key"] != old
    assert Api(stack, rotated["api_key"]).get("/v1/settings")[0] == 200
    assert Api(stack, old).get("/v1/settings")[0] == 401
    # AND an unknown tenant is an error, not a new key
    assert run_admin(stack, monkeypatch, "tenants", "rotate-key", "ten_nope")[0] == 1


def tenant_with_own_token(stack, monkeypatch, name, pnid, waba, *, stored, meta_accepts):
    """The AWS path (tenant tokens in Secrets Manager): a tenant created with the admin CLI whose
    secret holds `stored`, on a number for which Meta accepts only `meta_accepts`."""
    stack.deps.settings = stack.deps.settings.model_copy(update={"tenant_secret_prefix": PREFIX})
    _, created = run_admin(stack, monkeypatch, "tenants", "create", "--name", name, "--phone-number-id", pnid, "--waba-id", waba,
                           "--access-token-stdin", stdin=f"{stored}\n")
    stack.sandbox.register_number(pnid, waba, access_token=meta_accepts)
    return created, Api(stack, created["api_key"])


def test_each_tenant_sends_with_its_own_token_cached_and_refetched_after_a_401(stack, monkeypatch):
    # GIVEN a tenant whose number Meta accepts only with its own token
    created, bank = tenant_with_own_token(stack, monkeypatch, "Bank", "3003", "4004", stored="token-v1", meta_accepts="token-v1")
    bank.approved_template()  # the template goes to Meta with the tenant's token too
    message = load_event("api/create_message.json")

    def send():
        status, body, _ = bank.post("/v1/messages", message)
        assert status == 202, body
        stack.drain()
        return bank.message(body["id"])

    assert send()["status"] == "read"
    # WHEN the token is rotated in Secrets Manager while Meta still takes the old one
    run_admin(stack, monkeypatch, "tenants", "set-token", created["tenant_id"], "--access-token-stdin", stdin="token-v2\n")
    # THEN the cached token is still used (no Secrets Manager read per send)
    assert send()["status"] == "read"
    # WHEN Meta switches to the new token
    stack.sandbox.register_number("3003", "4004", access_token="token-v2")
    # THEN the first send gets a 401, refetches the secret and goes through, once
    sent_before = len(stack.sandbox.messages)
    after_rotation = send()
    assert after_rotation["status"] == "read", after_rotation
    assert len(stack.sandbox.messages) == sent_before + 1
    assert secret_of(created["tenant_id"])["access_token"] == "token-v2"


def test_a_revoked_token_refuses_the_template_and_stores_nothing(stack, monkeypatch):
    # GIVEN a tenant whose secret holds a token Meta refuses even after a refetch
    _, shop = tenant_with_own_token(stack, monkeypatch, "Shop", "5005", "6006", stored="revoked", meta_accepts="the-real-one")
    # WHEN it registers a template
    status, body, _ = shop.post("/v1/templates", load_event("api/create_template.json"))
    # THEN the platform is told WhatsApp refused, and nothing was stored
    assert status in (422, 503), body
    assert "190" in json.dumps(body)
    assert shop.get("/v1/templates")[1]["items"] == []
