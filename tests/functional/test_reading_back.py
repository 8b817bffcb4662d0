"""Reading back (issue 16): GET /v1/messages with filters and GET /v1/contacts/{phone}/timeline,
real handlers under moto. Both read KEYS_ONLY indexes (ContactIndex, TimeIndex) newest first."""

from datetime import UTC, datetime, timedelta

import pytest
from wa_notify.adapters.storage import keys
from wa_notify.adapters.storage.paging import encode_cursor

from infra.local.sandbox import Fault

ANA, BO = "+886912345678", "+14155550123"


def send(api, message_body, to=ANA, **changes):
    status, body, _ = api.post("/v1/messages", {**message_body, "to": to, **changes})
    assert status == 202, body
    return body["id"]


def ids(api, query, key="default"):
    status, body, _ = api.get(f"/v1/messages{query}", key=key)
    assert status == 200, body
    return [m["id"] for m in body["items"]], body["next"]


def all_pages(api, query, limit):
    sep = "&" if "?" in query else "?"
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = ids(api, f"{query}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        seen += page
        pages += 1
        if not cursor:
            return seen, pages


def at(stack, moment):
    stack.deps.clock = lambda: moment


def test_unfiltered_list_is_newest_first_over_several_pages(api, stack, message_body):
    # GIVEN five messages, a minute apart
    api.approved_template()
    start = datetime.now(UTC)
    sent = []
    for i in range(5):
        at(stack, start + timedelta(minutes=i))
        sent.append(send(api, message_body))
    # WHEN they are read two a page
    seen, pages = all_pages(api, "", 2)
    # THEN every message comes once, newest first, over three pages
    assert seen == sent[::-1] and pages == 3


def test_each_filter_finds_its_messages(api, stack, message_body):
    # GIVEN messages to two people, two metadata values, one from a flow-less text and one that fails
    api.approved_template()
    start = datetime.now(UTC)
    a1 = send(api, message_body, metadata={"order": "A-1", "vip": True})
    at(stack, start + timedelta(seconds=1))
    b1 = send(api, message_body, to=BO, metadata={"order": "B-1", "n": 7})
    stack.drain()
    stack.sandbox.faults.append(Fault(code=131026, mode="async", to=BO))
    at(stack, start + timedelta(seconds=2))
    b2 = send(api, message_body, to=BO, metadata={"order": "B-2"})
    stack.drain()
    # THEN to= finds one recipient's, whatever the phone's format
    assert ids(api, "?to=%2B14155550123")[0] == [b2, b1]
    assert ids(api, "?to=886912345678")[0] == [a1]
    # AND status=failed the failed one, status=read the others
    assert ids(api, "?status=failed")[0] == [b2]
    assert ids(api, "?status=read")[0] == [b1, a1]
    # AND template=, metadata.<k>= (strings, numbers and booleans as written in a URL)
    assert ids(api, "?template=order_shipped")[0] == [b2, b1, a1]
    assert ids(api, "?template=other")[0] == []
    assert ids(api, "?metadata.order=B-1")[0] == [b1]
    assert ids(api, "?metadata.n=7")[0] == [b1] and ids(api, "?metadata.vip=true")[0] == [a1]
    # AND two filters together (supported: every filter but to= is a check on the rows read)
    assert ids(api, "?to=%2B14155550123&status=failed")[0] == [b2]
    assert ids(api, "?status=read&metadata.order=A-1")[0] == [a1]


def test_flow_key_and_campaign_filters(api, stack, message_body):
    from tests.functional.test_flows_and_events import CLINIC_FLOW, CLINIC_TEMPLATES

    # GIVEN a flow planned for key visit-1, and a plain message
    for t in CLINIC_TEMPLATES:
        api.approved_template(t)
    api.call("PUT", "/v1/flows/clinic_visit", CLINIC_FLOW)
    visit = (datetime.now(UTC) + timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
    planned = api.post("/v1/events", {"type": "appointment.booked", "key": "visit-1", "to": ANA,
                                      "data": {"first_name": "Ana", "room": "3", "visit_at": visit.isoformat()}})[1]["messages"]
    api.approved_template()
    plain = send(api, message_body)
    # THEN flow_key= lists the flow's messages only
    found = ids(api, "?flow_key=visit-1")[0]
    assert sorted(found) == sorted(m["id"] for m in planned) and plain not in found and found
    # AND campaign= an unknown (or another tenant's) campaign is an empty page
    assert ids(api, "?campaign=cmp_unknown")[0] == []


def test_since_and_until_bound_the_time_and_combine_with_a_filter(api, stack, message_body):
    # GIVEN messages on three days
    api.approved_template()
    day = datetime(2030, 1, 10, 12, tzinfo=UTC)
    made = {}
    for offset in (0, 1, 2):
        at(stack, day + timedelta(days=offset))
        made[offset] = send(api, message_body, to=BO if offset == 1 else ANA)
    # THEN since/until are inclusive bounds, in any offset
    assert ids(api, "?since=2030-01-11T12:00:00Z")[0] == [made[2], made[1]]
    assert ids(api, "?until=2030-01-11T20:00:00%2B08:00")[0] == [made[1], made[0]]
    assert ids(api, "?since=2030-01-11T00:00:00Z&until=2030-01-11T23:59:59Z")[0] == [made[1]]
    # AND combined with to=
    assert ids(api, "?to=%2B886912345678&since=2030-01-11T00:00:00Z")[0] == [made[2]]


def test_another_tenants_messages_never_appear_and_its_cursor_is_refused(api, stack, message_body):
    # GIVEN two messages of the dev tenant, and another tenant
    api.approved_template()
    send(api, message_body)
    send(api, message_body)
    other = stack.create_tenant("other")["api_key"]
    # THEN the other tenant reads nothing, by any filter
    assert ids(api, "", key=other)[0] == [] and ids(api, "?to=%2B886912345678", key=other)[0] == []
    assert api.get("/v1/contacts/+886912345678/timeline", key=other)[1]["items"] == []
    # AND the dev tenant's cursor, handed to the other tenant, is a 422 naming it
    cursor = ids(api, "?limit=1")[1]
    status, body, headers = api.get(f"/v1/messages?limit=1&cursor={cursor}", key=other)
    assert status == 422 and headers["content-type"] == "application/problem+json"
    assert body["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize(("query", "field"), [
    ("?to=12", "to"), ("?to=not-a-phone", "to"), ("?status=lost", "status"), ("?since=yesterday", "since"),
    ("?until=2030-13-01", "until"), ("?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z", "since"),
    ("?template=%00x", "template"), ("?flow_key=" + "k" * 300, "flow_key"), ("?metadata.=x", "metadata."),
    ("?metadata.order=" + "v" * 300, "metadata.order"), ("?limit=0", "limit"), ("?limit=101", "limit"),
    ("?cursor=%7B%7D", "cursor"), ("?cursor=AAAA", "cursor"), ("?cursor=" + "x" * 3000, "cursor"),
])
def test_hostile_query_values_are_a_422_naming_the_parameter(api, stack, query, field):
    # WHEN a query value is wrong
    status, body, headers = api.get(f"/v1/messages{query}")
    # THEN 422 problem+json naming it
    assert status == 422 and headers["content-type"] == "application/problem+json", body
    assert field in [e["field"] for e in body["errors"]]


def test_a_tampered_cursor_is_refused(api, stack, message_body):
    # GIVEN a real cursor of the to= listing
    api.approved_template()
    send(api, message_body)
    send(api, message_body)
    cursor = ids(api, "?to=%2B886912345678&limit=1")[1]
    assert cursor
    # THEN it is refused by another listing (the time index) and when pointed at another contact or out of the time bounds
    for query in (f"?limit=1&cursor={cursor}", f"?to=%2B14155550123&limit=1&cursor={cursor}",
                  f"?to=%2B886912345678&since=2099-01-01T00:00:00Z&limit=1&cursor={cursor}"):
        status, body, _ = api.get(f"/v1/messages{query}")
        assert status == 422 and body["errors"][0]["field"] == "cursor", query
    forged = encode_cursor({"pk": {"S": keys.message("other", "msg_x").pk}, "sk": {"S": keys.MESSAGE_SK},
                            "tenant_key": {"S": keys.messages_list_key("other")}, "listed_at": {"S": "2030-01-01T00:00:00.000Z"}})
    assert api.get(f"/v1/messages?cursor={forged}")[0] == 422


def test_unknown_query_parameters_are_ignored_as_on_the_other_lists(api, stack, message_body):
    api.approved_template()
    sent = send(api, message_body)
    # THEN like GET /v1/contacts?foo=1, an unknown parameter changes nothing
    assert api.get("/v1/contacts?foo=1")[0] == 200
    assert ids(api, "?foo=1")[0] == [sent]


def test_timeline_shows_inbound_and_outbound_newest_first(api, stack, message_body):
    # GIVEN a message to Ana, her reply, then a free-text answer inside the window
    api.approved_template()
    at(stack, datetime.now(UTC) - timedelta(minutes=1))
    first = send(api, message_body)
    stack.drain()
    stack.request("POST", "/_local/sandbox/inbound", body={"from": ANA, "text": "thanks!"})
    stack.drain()
    at(stack, datetime.now(UTC) + timedelta(seconds=5))
    answer = send(api, {"to": ANA, "text": "You're welcome"})
    send(api, message_body, to=BO)  # someone else's
    # WHEN her timeline is read
    status, body, _ = api.get("/v1/contacts/886912345678/timeline")
    items = body["items"]
    # THEN both directions, newest first, each saying its direction and kind; Bo's message is not there
    assert status == 200
    assert [(i["direction"], i["kind"]) for i in items] == [("outbound", "text"), ("inbound", "text"), ("outbound", "template")]
    assert items[0]["id"] == answer and items[2]["id"] == first and items[1]["text"] == "thanks!"
    assert items[2]["template"]["name"] == "order_shipped" and items[2]["status"] == "read"
    # AND paged one at a time, the same three
    seen, cursor = [], None
    while True:
        page = api.get("/v1/contacts/886912345678/timeline?limit=1" + (f"&cursor={cursor}" if cursor else ""))[1]
        seen += [i["id"] for i in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == [i["id"] for i in items]
    # AND a bad phone is a 422 naming it
    status, body, _ = api.get("/v1/contacts/12/timeline")
    assert status == 422 and body["errors"][0]["field"] == "phone"


def test_a_status_change_never_rewrites_the_reading_indexes(api, stack, message_body):
    # GIVEN a message written with its index keys
    api.approved_template()
    message_id = send(api, message_body)

    def index_keys():
        row = stack.deps.store.table.get(*keys.message(stack.dev_tenant["tenant_id"], message_id), consistent=True)
        return {k: row.get(k) for k in ("contact_key", "tenant_key", "listed_at")}

    before = index_keys()
    # WHEN it goes through accepted, sent, delivered, read
    stack.drain()
    # THEN its index keys are the ones it was created with (KEYS_ONLY entries: no write per status)
    assert index_keys() == before and before["listed_at"] and before["contact_key"].endswith("#TO#+886912345678")


def test_failed_messages_come_from_their_own_sparse_index(api, stack, message_body):
    # GIVEN many read messages and one that WhatsApp fails, the oldest
    api.approved_template()
    start = datetime.now(UTC)
    stack.sandbox.faults.append(Fault(code=131026, mode="async", to=BO))
    failed = send(api, message_body, to=BO)
    stack.drain()
    for i in range(6):
        at(stack, start + timedelta(seconds=i + 1))
        send(api, message_body)
    stack.drain()
    # WHEN the platform asks for what failed, one item a page
    status, body, _ = api.get("/v1/messages?status=failed&limit=1")
    # THEN the failed message is the whole answer, with no page of read ones to walk through first
    assert status == 200 and [m["id"] for m in body["items"]] == [failed] and body["next"] is None
    # AND only the failed row carries the index key, written by the status that failed it
    rows = [stack.deps.store.table.get(*keys.message(stack.dev_tenant["tenant_id"], m), consistent=True)
            for m in ids(api, "?limit=100")[0]]
    assert [r["id"] for r in rows if "failed_key" in r] == [failed]


def test_a_message_the_sender_fails_is_in_the_failed_index(api, stack, message_body):
    # GIVEN a send WhatsApp refuses at once (a permanent error: the sender records the failure)
    api.approved_template()
    stack.sandbox.faults.append(Fault(code=131026, mode="sync", to=ANA))
    failed = send(api, message_body)
    stack.drain()
    assert api.message(failed)["status"] == "failed"
    # THEN ?status=failed finds it
    assert ids(api, "?status=failed")[0] == [failed]
