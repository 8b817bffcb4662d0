"""The local stack runs the sender's three lanes in containers of their own, as Lambda runs each
event source mapping's batches (issue 18: an alert behind a running campaign). With one container
for the whole function, the high lane's batch waited for the bulk lane's invocation to end."""

import threading

from tests.functional.conftest import load_event


def sender_source(stack, lane):
    url = stack.deps.queues.lane_urls[lane]
    return next(s for s in stack.queue_sources if s[0] == url)


def test_each_lane_has_its_own_container(stack):
    # GIVEN the local stack's event sources WHEN the sender's lanes are looked at
    containers = [sender_source(stack, lane)[3] for lane in ("high", "normal", "bulk")]
    # THEN they are three containers of the same function, each with its own one-at-a-time lock
    assert len({id(c) for c in containers}) == 3
    assert len({id(c.lock) for c in containers}) == 3
    assert {c.spec.logical_id for c in containers} == {"SenderFunction"}


def test_an_alert_is_sent_while_a_bulk_batch_is_still_being_sent(api, stack):
    # GIVEN a bulk message whose send to WhatsApp hangs (a slow, paced bulk invocation in progress)
    api.approved_template()
    body = load_event("api/create_message.json")
    bulk_id = api.post("/v1/messages", {**body, "to": "+886912000301", "priority": "bulk"})[1]["id"]
    release, in_bulk = threading.Event(), threading.Event()
    real_send = stack.sandbox._send

    def send(pnid, payload):
        if payload.get("biz_opaque_callback_data") == bulk_id:
            in_bulk.set()
            release.wait(10)
        return real_send(pnid, payload)

    stack.sandbox._send = send
    bulk = threading.Thread(target=stack.poll_once, args=sender_source(stack, "bulk"))
    bulk.start()
    try:
        assert in_bulk.wait(10)
        # WHEN an alert is queued on the high lane and its poller takes it
        alert_id = api.post("/v1/messages", {**body, "to": "+886912000302", "priority": "high"})[1]["id"]
        high = threading.Thread(target=stack.poll_once, args=sender_source(stack, "high"))
        high.start()
        high.join(5)
        # THEN the alert went to WhatsApp while the bulk invocation was still in its send
        assert not high.is_alive(), "the high lane waited for the bulk lane's invocation"
        assert bulk.is_alive()
        assert [m["request"]["biz_opaque_callback_data"] for m in stack.sandbox.messages] == [alert_id]
    finally:
        release.set()
        bulk.join(10)
        stack.sandbox._send = real_send
    # AND the bulk message went once it was released
    assert sorted(m["request"]["biz_opaque_callback_data"] for m in stack.sandbox.messages) == sorted([alert_id, bulk_id])


def test_the_apis_invocations_go_first_at_motos_lock_and_the_senders_do_not(stack):
    # GIVEN the API's and the webhook's handlers, watched for whether their thread is urgent at moto's lock (LaneFirstLock)
    from infra.local import stack as local_stack

    seen = {}
    for name in ("ApiFunction", "WebhookFunction"):
        fn = stack.functions[name]
        real = fn.handler
        fn.handler = lambda event, context, real=real, name=name: (seen.setdefault(name, local_stack._is_urgent()), real(event, context))[1]
    # WHEN a platform's request and a WhatsApp webhook handshake come in
    assert stack.request("GET", "/v1/health")[0] == 200
    stack.request("GET", "/webhooks/whatsapp")
    # THEN the API's invocation was urgent (in AWS it never waits for a send: it is the first half of an alert's time),
    # the webhook's was not, and the thread is not urgent once the request is answered
    assert seen == {"ApiFunction": True, "WebhookFunction": False}
    assert not local_stack._is_urgent()
