"""The local stack's moto speed-ups (infra/local/moto_speed.py) keep what moto answers and stores.

Each test fails if its patch changed semantics: a cancelled transaction must leave items and
stream as they were, a failed condition must write nothing, a shared parse must not carry one
request's values into the next, and items must come back (responses, stream images) as written.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import dynamodb_backends

from infra.local import moto_speed


@pytest.fixture
def ddb(stack):
    table = stack.deps.store.table
    return table.client, table.name


def moto_table(name):
    return dynamodb_backends["123456789012"]["us-east-1"].get_table(name)


def key(sk):
    return {"pk": {"S": "T#speed"}, "sk": {"S": sk}}


def stream_length(name):
    return len(moto_table(name).stream_shard.items)


def test_the_local_stack_installs_every_patch(stack):
    # GIVEN a started local stack / WHEN its patches are listed / THEN each was applied
    assert set(moto_speed.PATCHES) <= moto_speed._installed


def test_a_cancelled_transaction_changes_no_item_and_no_stream_record(ddb):
    # GIVEN an item A and a table whose stream has some records
    client, name = ddb
    client.put_item(TableName=name, Item={**key("A"), "n": {"N": "1"}, "m": {"M": {"x": {"S": "before"}}}})
    table_before = moto_table(name)
    # WHEN a transaction puts B, updates A, deletes C and then fails a condition check on K
    client.put_item(TableName=name, Item={**key("C"), "n": {"N": "3"}})
    client.put_item(TableName=name, Item={**key("K"), "n": {"N": "3"}})
    records_before = stream_length(name)
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {**key("B"), "n": {"N": "2"}}}},
            {"Update": {"TableName": name, "Key": key("A"), "UpdateExpression": "SET n = n + :one, m.x = :after",
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":after": {"S": "after"}}}},
            {"Delete": {"TableName": name, "Key": key("C")}},
            {"ConditionCheck": {"TableName": name, "Key": key("K"), "ConditionExpression": "n = :nine",
                                "ExpressionAttributeValues": {":nine": {"N": "9"}}}},
        ])
    # THEN it is cancelled, and nothing of it is in the table or the stream
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "Item" not in client.get_item(TableName=name, Key=key("B"))
    assert client.get_item(TableName=name, Key=key("A"))["Item"] == {**key("A"), "n": {"N": "1"}, "m": {"M": {"x": {"S": "before"}}}}
    assert client.get_item(TableName=name, Key=key("C"))["Item"]["n"] == {"N": "3"}
    assert stream_length(name) == records_before
    # AND the table is the same object (no whole-table copy was put back), as the stream reader expects
    assert moto_table(name) is table_before


def test_a_transaction_that_succeeds_writes_every_item_and_streams_each(ddb):
    # GIVEN an empty corner of the table
    client, name = ddb
    before = stream_length(name)
    # WHEN a transaction puts two items
    client.transact_write_items(TransactItems=[
        {"Put": {"TableName": name, "Item": {**key("D"), "n": {"N": "4"}}, "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Put": {"TableName": name, "Item": {**key("E"), "n": {"N": "5"}}}},
    ])
    # THEN both are stored and the stream has one record each
    assert client.get_item(TableName=name, Key=key("D"))["Item"]["n"] == {"N": "4"}
    assert client.get_item(TableName=name, Key=key("E"))["Item"]["n"] == {"N": "5"}
    assert stream_length(name) == before + 2


def test_a_transaction_naming_one_item_twice_is_refused_and_changes_nothing(ddb):
    # GIVEN an item
    client, name = ddb
    client.put_item(TableName=name, Item={**key("F"), "n": {"N": "1"}})
    before = stream_length(name)
    # WHEN a transaction writes it and then names it again (moto refuses after the first write)
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": name, "Key": key("F"), "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Delete": {"TableName": name, "Key": key("F")}},
        ])
    # THEN the first write was undone too
    assert client.get_item(TableName=name, Key=key("F"))["Item"]["n"] == {"N": "1"}
    assert stream_length(name) == before


def test_a_failed_condition_writes_nothing_and_returns_the_old_item(ddb):
    # GIVEN an item
    client, name = ddb
    client.put_item(TableName=name, Item={**key("G"), "tat": {"N": "100"}})
    before = stream_length(name)
    # WHEN an update's condition fails
    with pytest.raises(ClientError) as caught:
        client.update_item(TableName=name, Key=key("G"), UpdateExpression="SET tat = tat + :i", ConditionExpression="tat <= :now",
                           ExpressionAttributeValues={":i": {"N": "5"}, ":now": {"N": "50"}}, ReturnValuesOnConditionCheckFailure="ALL_OLD")
    # THEN it is refused with the old item, and the item and stream are unchanged
    assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert caught.value.response["Item"]["tat"] == {"N": "100"}
    assert client.get_item(TableName=name, Key=key("G"))["Item"]["tat"] == {"N": "100"}
    assert stream_length(name) == before


def test_one_update_expression_text_with_new_values_each_time(ddb):
    # GIVEN an update expression text already used once (its parse is shared)
    client, name = ddb
    expression = "SET tat = if_not_exists(tat, :zero) + :i, events.#q = if_not_exists(events.#q, :at)"
    values = {":zero": {"N": "0"}, ":i": {"N": "7"}, ":at": {"S": "first"}}
    client.put_item(TableName=name, Item={**key("H"), "events": {"M": {}}})
    client.update_item(TableName=name, Key=key("H"), UpdateExpression=expression, ExpressionAttributeNames={"#q": "queued"}, ExpressionAttributeValues=values)
    # WHEN it is used again with other values and other names
    got = client.update_item(TableName=name, Key=key("H"), UpdateExpression=expression, ExpressionAttributeNames={"#q": "other"},
                             ExpressionAttributeValues={**values, ":i": {"N": "3"}, ":at": {"S": "second"}}, ReturnValues="ALL_NEW")
    # THEN the second request's own values and names were applied
    assert got["Attributes"]["tat"] == {"N": "10"}
    assert got["Attributes"]["events"] == {"M": {"queued": {"S": "first"}, "other": {"S": "second"}}}


@pytest.mark.parametrize(("expression", "message"), [
    ("SET missing_total = missing_total + :i", "does not exist"),
    ("SET pk = :i", "key"),
    ("SET a = :i, a = :i", "overlap"),
])
def test_update_expressions_moto_refuses_are_still_refused(ddb, expression, message):
    # GIVEN an item
    client, name = ddb
    client.put_item(TableName=name, Item={**key("I"), "n": {"N": "1"}})
    # WHEN an update moto's validator must refuse is sent (twice: the second from the shared parse)
    for _ in range(2):
        with pytest.raises(ClientError) as caught:
            client.update_item(TableName=name, Key=key("I"), UpdateExpression=expression, ExpressionAttributeValues={":i": {"N": "1"}})
        # THEN it is a validation error, and the item is untouched
        assert caught.value.response["Error"]["Code"] == "ValidationException"
        assert message in caught.value.response["Error"]["Message"].lower()
    assert client.get_item(TableName=name, Key=key("I"))["Item"] == {**key("I"), "n": {"N": "1"}}


def test_every_attribute_type_comes_back_as_written_in_responses_and_stream_images(ddb):
    # GIVEN an item with every attribute type, nested
    client, name = ddb
    item = {**key("J"), "s": {"S": "x"}, "n": {"N": "1.5"}, "b": {"B": b"\x00\xff"}, "t": {"BOOL": True}, "z": {"NULL": True},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": [b"\x01"]},
            "m": {"M": {"l": {"L": [{"S": "deep"}, {"M": {"k": {"N": "2"}, "bb": {"B": b"\x02"}}}]}}}}
    # WHEN it is put, then updated with ALL_NEW
    client.put_item(TableName=name, Item=item)
    got = client.update_item(TableName=name, Key=key("J"), UpdateExpression="SET s = :s", ExpressionAttributeValues={":s": {"S": "x"}}, ReturnValues="ALL_NEW")
    # THEN the response and the stream's new image hold the item exactly
    expected = {k: ({"SS": sorted(v["SS"])} if "SS" in v else {"NS": sorted(v["NS"])} if "NS" in v else v) for k, v in item.items()}

    def normalized(image):
        return {k: ({"SS": sorted(v["SS"])} if "SS" in v else {"NS": sorted(v["NS"])} if "NS" in v else v) for k, v in image.items()}

    assert normalized(got["Attributes"]) == expected
    record = moto_table(name).stream_shard.items[-1].to_json()
    assert record["dynamodb"]["OldImage"]["m"] == item["m"]
    assert record["dynamodb"]["NewImage"]["b"] == item["b"]


def test_sqs_hands_out_a_message_within_its_retention_period_and_not_after_it(stack):
    # GIVEN a queue keeping messages 60 s, with one message in it
    from moto.sqs.models import sqs_backends

    url = stack.sqs.create_queue(QueueName="retention-check", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    stack.sqs.send_message(QueueUrl=url, MessageBody="m")
    # WHEN it is read at once, and again once it is 2 minutes old
    fresh = stack.sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    queue = sqs_backends["123456789012"]["us-east-1"].get_queue("retention-check")
    queue._messages[0].sent_timestamp -= 120_000
    aged = stack.sqs.receive_message(QueueUrl=url, VisibilityTimeout=0)
    # THEN it came back the first time only
    assert [m["Body"] for m in fresh["Messages"]] == ["m"]
    assert "Messages" not in aged


def test_sqs_hands_out_only_visible_undelayed_messages_and_deletes_by_any_handle_a_message_had(stack):
    # GIVEN a queue with a delayed message, one in flight and one ready
    url = stack.sqs.create_queue(QueueName="scan-check", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    stack.sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    stack.sqs.send_message(QueueUrl=url, MessageBody="in-flight")
    first = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    stack.sqs.send_message(QueueUrl=url, MessageBody="ready")
    # WHEN the queue is read again, the ready one is made visible again and read once more
    second = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    stack.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second[0]["ReceiptHandle"], VisibilityTimeout=0)
    third = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    # THEN each read got only what was visible and not delayed
    assert [m["Body"] for m in first] == ["in-flight"]
    assert [m["Body"] for m in second] == ["ready"] and [m["Body"] for m in third] == ["ready"]
    # AND a delete by the message's older handle removes it; again succeeds; an unknown handle is refused
    stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=second[0]["ReceiptHandle"])
    stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=third[0]["ReceiptHandle"])
    with pytest.raises(ClientError) as caught:
        stack.sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert caught.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"
    stack.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0)
    left = stack.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in left] == ["in-flight"]


def test_an_item_s_size_is_what_moto_computes_for_every_attribute_type():
    # GIVEN values of every type, nested in maps and lists, with multi-byte text
    from moto.dynamodb.models.dynamo_type import DynamoType

    moto_speed.install()
    values = [{"S": "héllo ✓"}, {"N": "-12.50"}, {"B": b"\x00\xff\x10"}, {"B": "AAEC"}, {"BOOL": False}, {"NULL": True},
              {"SS": ["a", "ü"]}, {"NS": ["1", "22.5"]}, {"BS": [b"\x01", b"\x02\x03"]}, {"L": []}, {"M": {}},
              {"M": {"ключ": {"S": "x"}, "l": {"L": [{"N": "1"}, {"M": {"deep": {"SS": ["q"]}, "b": {"BOOL": True}}}]}}}]
    patched = DynamoType.size
    # WHEN each is sized by the patch and by moto's own method (restored for the comparison)
    ours = [DynamoType(v).size() for v in values]
    DynamoType.size = patched._wa_original
    try:
        theirs = [DynamoType(v).size() for v in values]
    finally:
        DynamoType.size = patched
    # THEN the sizes are the same
    assert ours == theirs


def test_an_update_that_makes_an_item_larger_than_400_kb_is_still_refused(ddb):
    # GIVEN an item of about 300 KB
    client, name = ddb
    client.put_item(TableName=name, Item={**key("L"), "big": {"S": "x" * 300_000}})
    # WHEN an update would add another 200 KB
    with pytest.raises(ClientError) as caught:
        client.update_item(TableName=name, Key=key("L"), UpdateExpression="SET more = :v", ExpressionAttributeValues={":v": {"S": "y" * 200_000}})
    # THEN it is refused and the item is unchanged, while a small update still goes through
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert "more" not in client.get_item(TableName=name, Key=key("L"))["Item"]
    client.update_item(TableName=name, Key=key("L"), UpdateExpression="SET more = :v", ExpressionAttributeValues={":v": {"S": "y"}})
    assert client.get_item(TableName=name, Key=key("L"))["Item"]["more"] == {"S": "y"}


@pytest.mark.parametrize(("expression", "fine", "refused", "message"), [
    ("SET #a = :i, #b = :i", {"#a": "x", "#b": "y"}, {"#a": "x", "#b": "x"}, "two document paths"),
    ("SET #k = :i", {"#k": "n"}, {"#k": "pk"}, "key"),
])
def test_an_update_text_that_passed_is_still_refused_when_its_names_make_it_wrong(ddb, expression, fine, refused, message):
    # GIVEN an update text that passed moto's structural checks with some attribute names
    client, name = ddb
    client.put_item(TableName=name, Item={**key("M"), "n": {"N": "1"}})
    client.update_item(TableName=name, Key=key("M"), UpdateExpression=expression, ExpressionAttributeNames=fine,
                       ExpressionAttributeValues={":i": {"N": "2"}})
    # WHEN the same text comes with names that make two paths the same or name the key
    with pytest.raises(ClientError) as caught:
        client.update_item(TableName=name, Key=key("M"), UpdateExpression=expression, ExpressionAttributeNames=refused,
                           ExpressionAttributeValues={":i": {"N": "3"}})
    # THEN moto refuses it as before, and nothing of it is written
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert message in caught.value.response["Error"]["Message"].lower()
    assert client.get_item(TableName=name, Key=key("M"))["Item"]["n"] == {"N": "2" if "#k" in fine else "1"}


def test_one_condition_text_is_decided_on_each_request_s_values(ddb):
    # GIVEN a condition text already used once (its tokens are shared)
    client, name = ddb
    client.put_item(TableName=name, Item={**key("N"), "tat": {"N": "100"}})
    condition = "attribute_not_exists(tat) OR tat <= :now"
    client.update_item(TableName=name, Key=key("N"), UpdateExpression="SET seen = :now", ConditionExpression=condition,
                       ExpressionAttributeValues={":now": {"N": "150"}})
    # WHEN it is used again with a value that fails it, and a text that does not lex is sent twice
    with pytest.raises(ClientError) as failed:
        client.update_item(TableName=name, Key=key("N"), UpdateExpression="SET seen = :now", ConditionExpression=condition,
                           ExpressionAttributeValues={":now": {"N": "50"}})
    bad = []
    for _ in range(2):
        with pytest.raises(ValueError, match="Cannot parse condition") as caught:  # moto's own error for it
            client.update_item(TableName=name, Key=key("N"), UpdateExpression="SET seen = :now", ConditionExpression="tat <= :now ~",
                               ExpressionAttributeValues={":now": {"N": "50"}})
        bad.append(str(caught.value))
    # THEN the second is refused on its own value, the bad text every time, and the item kept the first write
    assert failed.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert bad == ["Cannot parse condition starting at:~"] * 2
    assert client.get_item(TableName=name, Key=key("N"))["Item"]["seen"] == {"N": "150"}


def test_moto_s_action_list_per_response_class_is_its_own(stack):
    # GIVEN moto's DynamoDB and SQS response classes
    import moto.core.responses as core_responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.sqs.responses import SQSResponse

    kept = core_responses.method_names_from_class
    # WHEN their actions are listed through the kept list and by moto's own function
    # THEN the lists are the same
    for cls in (DynamoHandler, SQSResponse):
        assert kept(cls) == kept._wa_original(cls)


def test_each_update_answers_and_streams_the_item_as_it_was_just_before_it(ddb):
    # GIVEN an item (each UpdateItem's old item is copied once, for its answer and its stream record)
    client, name = ddb
    client.put_item(TableName=name, Item={**key("O"), "n": {"N": "1"}, "m": {"M": {"x": {"S": "a"}}}})
    before = stream_length(name)
    # WHEN it is updated twice, each asking for the old values
    first = client.update_item(TableName=name, Key=key("O"), UpdateExpression="SET n = n + :one, m.x = :b",
                               ExpressionAttributeValues={":one": {"N": "1"}, ":b": {"S": "b"}}, ReturnValues="ALL_OLD")
    second = client.update_item(TableName=name, Key=key("O"), UpdateExpression="SET n = n + :one, m.x = :c",
                                ExpressionAttributeValues={":one": {"N": "1"}, ":c": {"S": "c"}}, ReturnValues="UPDATED_OLD")
    # THEN each answer and each stream record's old image is the item just before that update,
    # and the first record's images did not change with the second update
    assert first["Attributes"]["n"] == {"N": "1"} and first["Attributes"]["m"] == {"M": {"x": {"S": "a"}}}
    assert second["Attributes"]["n"] == {"N": "2"}
    records = [r.to_json()["dynamodb"] for r in moto_table(name).stream_shard.items[before:]]
    assert [(r["OldImage"]["n"], r["NewImage"]["n"]) for r in records] == [({"N": "1"}, {"N": "2"}), ({"N": "2"}, {"N": "3"})]
    assert [r["OldImage"]["m"]["M"]["x"] for r in records] == [{"S": "a"}, {"S": "b"}]
    assert client.get_item(TableName=name, Key=key("O"))["Item"]["m"] == {"M": {"x": {"S": "c"}}}
