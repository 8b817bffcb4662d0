"""docs/runbook.md, rehearsed under moto: restore the table to a point in time, point the stack at
the restored table (the RestoredTableName and RestoredTableStreamArn parameters), read the messages
back through our code, and replay what Meta re-sends: statuses apply forward-only there too.

What moto cannot rehearse: its restore_table_to_point_in_time copies the source's items and indexes
as they are now (it ignores the restore time), and, like DynamoDB, neither the stream nor TTL nor
point-in-time recovery come with the restore, so the runbook turns them on and so does this test."""

import copy
import dataclasses

import pytest
from wa_notify.config import get_settings
from wa_notify.services import tenants
from wa_notify.services.deps import set_deps

from infra.local.provision import Provisioned, evaluate_conditions, functions, load_template
from tests.functional.test_webhooks_and_statuses import post_webhook, status_event

TO = "+886 912 000 417"  # this suite's own recipient


@pytest.fixture
def restored_name(stack):
    yield f"{stack.deps.store.table.name}-restored"
    get_settings.cache_clear()  # the settings this test pointed at the restored table go with it


def sent(api, stack, message_body, to):
    body = copy.deepcopy(message_body) | {"to": to}
    status, created, _ = api.post("/v1/messages", body)
    assert status in (201, 202), created
    stack.drain()
    message = api.message(created["id"])
    return created["id"], message["provider_message_id"]


def restore(client, source: str, target: str) -> str:
    """The runbook's restore and the settings a restore does not bring: stream, TTL, recovery."""
    client.update_continuous_backups(TableName=source, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    client.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=target, UseLatestRestorableTime=True)
    client.update_table(TableName=target, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    client.update_time_to_live(TableName=target, TimeToLiveSpecification={"AttributeName": "expires_at", "Enabled": True})
    client.update_continuous_backups(TableName=target, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return client.describe_table(TableName=target)["Table"]["LatestStreamArn"]


def redeployed_with_the_restored_table(stack, name: str, stream_arn: str):
    """What `sam deploy --parameter-overrides RestoredTableName=... RestoredTableStreamArn=...` gives
    the functions, read from template.yaml as the local stack reads it."""
    template = load_template()
    refs = {**stack.provisioned.refs, "RestoredTableName": name, "RestoredTableStreamArn": stream_arn}
    provisioned = Provisioned(stack.provisioned.prefix, stack.provisioned.region, stack.provisioned.account, refs,
                              dict(stack.provisioned.attrs), evaluate_conditions(template, refs))
    return functions(template, provisioned)


def test_a_restored_table_serves_the_messages_and_metas_replayed_statuses_apply_forward_only(api, stack, message_body, restored_name,
                                                                                          monkeypatch):
    # GIVEN two messages WhatsApp accepted, one of them since delivered
    api.approved_template()
    stack.sandbox.configure({"auto_status": False})
    delivered_id, delivered_wamid = sent(api, stack, message_body, TO)
    accepted_id, _ = sent(api, stack, message_body, TO.replace("417", "418"))
    assert post_webhook(stack, status_event(stack, delivered_id, delivered_wamid, [{"status": "delivered", "timestamp": "1750030080"}]))[0] == 200
    source = stack.deps.store.table.name
    client = stack.deps.store.table.client
    source_items = client.scan(TableName=source)["Items"]

    # WHEN the table is restored to a new table (runbook step 1) and then the live table loses a message
    stream_arn = restore(client, source, restored_name)
    lost = next(i for i in source_items if i.get("id", {}).get("S") == delivered_id and i["sk"]["S"] == "MSG")
    client.delete_item(TableName=source, Key={"pk": lost["pk"], "sk": lost["sk"]})
    # THEN the restored table holds every item and every index of the source
    described = client.describe_table(TableName=restored_name)["Table"]
    original = client.describe_table(TableName=source)["Table"]
    assert {i["IndexName"] for i in described["GlobalSecondaryIndexes"]} == {i["IndexName"] for i in original["GlobalSecondaryIndexes"]}
    assert client.scan(TableName=restored_name)["Count"] == len(source_items)
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

    # WHEN the stack is pointed at it (runbook step 2: the template's parameters, through its wiring)
    specs = {spec.logical_id: spec for spec in redeployed_with_the_restored_table(stack, restored_name, stream_arn)}
    assert {spec.environment["TABLE_NAME"] for spec in specs.values()} == {restored_name}
    assert [s.stream_arn for s in specs["CallbackFunction"].stream_sources] == [stream_arn]
    monkeypatch.setenv("TABLE_NAME", restored_name)
    get_settings.cache_clear()
    tenants.clear_key_cache()
    set_deps(dataclasses.replace(stack.deps, settings=get_settings(), _store=None))
    # THEN our code reads the messages back from the restored table: one by one and listed (through an index)
    assert api.message(delivered_id)["status"] == "delivered"
    assert api.message(accepted_id)["status"] == "accepted"
    status, listed, _ = api.get("/v1/messages")
    assert status == 200 and {m["id"] for m in listed["items"]} >= {delivered_id, accepted_id}

    # WHEN Meta re-sends its webhooks (runbook step 3: it retries for 7 days), older and newer, twice
    replay = status_event(stack, delivered_id, delivered_wamid, [{"status": "sent", "timestamp": "1750030073"},
                                                                {"status": "read", "timestamp": "1750030090"},
                                                                {"status": "delivered", "timestamp": "1750030080"}])
    assert post_webhook(stack, replay)[0] == 200
    assert post_webhook(stack, replay)[0] == 200
    # THEN the restored message moves forward to read and never back, each step once
    message = api.message(delivered_id)
    assert message["status"] == "read"
    assert [h["status"] for h in message["history"]] == ["queued", "accepted", "sent", "delivered", "read"]
    # AND the replay wrote to the restored table only: the live table's lost message stays lost
    assert not client.get_item(TableName=source, Key={"pk": lost["pk"], "sk": lost["sk"]}).get("Item")
