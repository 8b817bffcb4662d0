"""Several numbers per tenant, the pure parts: Meta's tiers as conversations per 24 h, the GET
/{phone-number-id} call and its errors, and how long a spent messaging-limit window still runs."""

import httpx
import pytest
from wa_notify.adapters.cloud_api import CloudApiClient
from wa_notify.domain.whatsapp_errors import ProviderError
from wa_notify.services import numbers


@pytest.mark.parametrize(("tier", "limit"), [("TIER_250", 250), ("TIER_1K", 1_000), ("TIER_2K", 2_000), ("TIER_10K", 10_000),
                                             ("TIER_100K", 100_000), ("TIER_UNLIMITED", None), (None, None), ("TIER_NEW", None)])
def test_a_tier_is_a_number_of_business_initiated_conversations(tier, limit):
    # GIVEN Meta's tier name WHEN it is read THEN it allows that many conversations (None: no limit we know of)
    assert numbers.conversations_per_day(tier) == limit


def client_answering(status, body, seen):
    def answer(request):
        seen.append(request)
        return httpx.Response(status, json=body)

    return CloudApiClient("https://graph.example/v23.0", transport=httpx.MockTransport(answer))


def test_the_number_is_read_with_metas_fields_and_our_token():
    # GIVEN Meta answering a phone number's fields
    seen = []
    body = {"id": "106540352242922", "display_phone_number": "+1 555-078-3881", "quality_rating": "GREEN",
            "whatsapp_business_manager_messaging_limit": "TIER_1K"}
    client = client_answering(200, body, seen)
    # WHEN it is asked for them
    data = client.get_phone_number("106540352242922", numbers.META_FIELDS, "tok")
    # THEN the request is GET /{phone-number-id}?fields=... with the bearer token, and the answer is Meta's
    assert data == body
    assert seen[0].method == "GET" and seen[0].url.path == "/v23.0/106540352242922"
    assert seen[0].url.params["fields"] == numbers.META_FIELDS and seen[0].headers["authorization"] == "Bearer tok"
    assert "whatsapp_business_manager_messaging_limit" in numbers.META_FIELDS and "quality_rating" in numbers.META_FIELDS


def test_a_meta_error_keeps_metas_code():
    # GIVEN Meta refusing the token
    client = client_answering(401, {"error": {"message": "(#190) Invalid OAuth access token", "code": 190}}, [])
    # WHEN the number is read THEN the error carries code 190 (the service's 502 names it)
    with pytest.raises(ProviderError) as caught:
        client.get_phone_number("1", numbers.META_FIELDS, "tok")
    assert caught.value.code == 190 and caught.value.token_rejected


def test_a_spent_window_runs_until_24_h_after_it_started():
    # GIVEN a window that started 23 h ago WHEN asked how long it still runs THEN about an hour
    start = 1_000_000_000
    row = {"phone_number_id": "1", "limit_window_start": start, "limit_used": 5}
    assert numbers.window_ends_in_s(row, start + 23 * 3600 * 1000) == 3601
    assert numbers.window_ends_in_s(None, start) == 1
