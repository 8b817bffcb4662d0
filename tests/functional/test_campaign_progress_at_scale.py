"""A large campaign's funnel is counted in the background (services/campaign_progress): reading
it stays one GetItem however many messages it has (a 10,000-message campaign took 15-25 s to
GET, list or cancel locally; the API function's timeout is 10 s). Exercised with the threshold
and page sizes lowered, on a handful of messages."""

from wa_notify.services import campaign_progress

from tests.functional.test_campaigns_and_quota import add_contacts, campaign_body


def test_a_large_campaign_answers_its_counted_funnel_and_counts_again_in_the_background(api, stack, monkeypatch):
    # GIVEN campaigns over 2 messages count as large, and a campaign to 5 contacts, sent and read
    monkeypatch.setattr(campaign_progress, "INLINE_MAX", 2)
    api.approved_template()
    add_contacts(api, [f"+1415555{i:04d}" for i in range(5)])
    status, created, _ = api.post("/v1/campaigns", campaign_body())
    assert status == 202, created
    stack.drain()
    reads_before = stack.deps.store.campaigns.messages_page
    scans = []
    monkeypatch.setattr(stack.deps.store.campaigns, "messages_page", lambda *a, **k: scans.append(1) or reads_before(*a, **k))
    # WHEN it is read, before any count
    first = api.get(f"/v1/campaigns/{created['id']}")[1]
    # THEN the read scanned nothing: no funnel yet (as_of null), and one count job is queued
    assert scans == [] and first["progress"]["as_of"] is None and first["progress"]["planned"] == 5
    assert api.get(f"/v1/campaigns/{created['id']}")[1]["progress"]["as_of"] is None  # a second read queues no second job
    # WHEN the lanes drain (the sender runs the count job)
    stack.drain()
    counted = api.get(f"/v1/campaigns/{created['id']}")[1]
    # THEN the funnel is there, as of the count, and the campaign is completed by the count
    assert counted["progress"]["read"] == 5 and counted["progress"]["queued"] == 0 and counted["progress"]["as_of"]
    assert counted["status"] == "completed"
    assert len(scans) >= 1


def test_a_count_that_outruns_its_time_goes_on_in_a_follow_up_job_and_adds_up(api, stack, monkeypatch):
    # GIVEN a large campaign of 5 read messages, pages of 2 keys and no time left after each page
    monkeypatch.setattr(campaign_progress, "INLINE_MAX", 2)
    monkeypatch.setattr(campaign_progress, "KEYS_PER_PAGE", 2)
    monkeypatch.setattr(campaign_progress, "JOB_BUDGET_SECONDS", -1.0)
    api.approved_template()
    add_contacts(api, [f"+1415555{i:04d}" for i in range(5)])
    created = api.post("/v1/campaigns", campaign_body())[1]
    stack.drain()
    # WHEN it is read and the count jobs run (three pages: three jobs)
    api.get(f"/v1/campaigns/{created['id']}")
    stack.drain()
    # THEN the saved funnel counts every message once
    progress = api.get(f"/v1/campaigns/{created['id']}")[1]["progress"]
    assert (progress["sent"], progress["read"], progress["queued"]) == (5, 5, 0), progress


def test_cancel_and_list_of_a_large_campaign_read_no_message(api, stack, monkeypatch):
    # GIVEN a large campaign still waiting for its send window
    monkeypatch.setattr(campaign_progress, "INLINE_MAX", 2)
    api.approved_template()
    add_contacts(api, [f"+1415555{i:04d}" for i in range(5)])
    start = stack.deps.now().replace(microsecond=0).isoformat()
    from datetime import datetime, timedelta

    window = {"start": (datetime.fromisoformat(start) + timedelta(hours=1)).isoformat(),
              "end": (datetime.fromisoformat(start) + timedelta(hours=3)).isoformat()}
    created = api.post("/v1/campaigns", campaign_body(send_window=window))[1]
    stack.drain()
    scans = []
    real = stack.deps.store.campaigns.messages_page
    monkeypatch.setattr(stack.deps.store.campaigns, "messages_page", lambda *a, **k: scans.append(1) or real(*a, **k))
    # WHEN it is listed and cancelled
    assert api.get("/v1/campaigns")[0] == 200
    status, cancelled, _ = api.delete(f"/v1/campaigns/{created['id']}")
    # THEN neither read its messages; the cancel job then cancels every one
    assert status == 200 and cancelled["status"] == "cancelled" and scans == []
    stack.drain()
    assert stack.sandbox.messages == []
