"""Fields a stranger's pass found accepting what they should refuse (2026-12-02, second pass): a
campaign name with control characters, an Idempotency-Key with them, a contact's locale or the
tenant's default language that no template could ever be in. Each is a 422 naming the field, and
nothing is written."""

import pytest

from tests.functional.test_campaign_template_field import CAMPAIGN


def fields(problem):
    return [p["field"] for p in problem["errors"]]


@pytest.mark.parametrize("name", ["spring\x00sale", "bell\x07", "\u202espring", "zero\u200bwidth"])
def test_a_campaign_name_with_control_or_invisible_characters_is_refused(api, name):
    # GIVEN an approved template
    api.approved_template()
    # WHEN a campaign is named with a NUL, a BEL, a bidi override or a zero-width space
    status, problem, headers = api.post("/v1/campaigns", {**CAMPAIGN, "name": name})
    # THEN 422 naming name, and no campaign is written
    assert status == 422 and headers["content-type"] == "application/problem+json", problem
    assert fields(problem) == ["name"], problem
    assert api.get("/v1/campaigns")[1]["items"] == []


def test_a_printable_campaign_name_in_any_script_still_goes(api):
    api.approved_template()
    status, body, _ = api.post("/v1/campaigns", {**CAMPAIGN, "name": "Promoção de primavera 春季"})
    assert status == 202, body


@pytest.mark.parametrize("key", ["abc\x01def", "tab\tkey", "del\x7f"])
def test_an_idempotency_key_with_control_characters_is_refused_and_nothing_is_sent(api, stack, message_body, key):
    # GIVEN an approved template
    api.approved_template()
    # WHEN a message comes with an Idempotency-Key holding a control character
    status, problem, _ = api.post("/v1/messages", message_body, headers={"Idempotency-Key": key})
    # THEN 422 naming the header, and no message was written or queued
    assert status == 422, problem
    assert any("idempotency-key" in f.lower() for f in fields(problem)), problem
    assert api.get("/v1/messages")[1]["items"] == []
    stack.drain()
    assert stack.sandbox.messages == []


@pytest.mark.parametrize("code", ["xx_XX", "en_XX", "qq"])
def test_a_contact_locale_no_template_could_have_is_refused(api, code):
    # WHEN a contact's locale is a code CLDR (and so Meta) does not know
    status, problem, _ = api.call("PUT", "/v1/contacts/+351912345678", {"locale": code})
    # THEN 422 naming locale, and the contact is not written
    assert status == 422 and fields(problem) == ["locale"], problem
    assert api.get("/v1/contacts/+351912345678")[0] == 404


@pytest.mark.parametrize("code", ["xx_XX", "en_XX"])
def test_a_default_language_no_template_could_have_is_refused(api, code):
    # GIVEN the tenant's settings as they are
    before = api.get("/v1/settings")[1]
    # WHEN the default language is set to a code CLDR does not know
    status, problem, _ = api.call("PUT", "/v1/settings", {"default_language": code})
    # THEN 422 naming default_language, and the settings did not change
    assert status == 422 and fields(problem) == ["default_language"], problem
    assert api.get("/v1/settings")[1] == before


def test_real_locales_still_go(api):
    assert api.call("PUT", "/v1/contacts/+351912345678", {"locale": "pt_PT"})[0] == 200
    assert api.call("PUT", "/v1/settings", {"default_language": "zh_TW"})[0] == 200


def test_a_body_giving_a_key_twice_is_refused_and_nothing_is_sent(api, stack):
    # GIVEN an approved template
    api.approved_template()
    # WHEN a message names `to` twice (Python's parser keeps the last, a WAF or a log reader the first)
    raw = ('{"to": "+14155550100", "to": "+886912345678", "template": {"name": "order_shipped", "language": "en_US"}, '
           '"params": {"order_id": "A1", "first_name": "Ana", "total": {"amount": 1, "currency": "USD"}, "eta": {"date": "2030-01-01"}}, '
           '"button_params": {"0": "A1"}}')
    status, problem, headers = api.call("POST", "/v1/messages", raw, headers={"content-type": "application/json"})
    # THEN 422 naming `to`, and nothing was written or sent
    assert status == 422 and headers["content-type"] == "application/problem+json", problem
    assert fields(problem) == ["to"], problem
    assert api.get("/v1/messages")[1]["items"] == []
    stack.drain()
    assert stack.sandbox.messages == []


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/messages?status=read&status=failed", "status"), ("/v1/contacts?tag=vip&tag=cold", "tag"),
    ("/v1/templates/order_shipped?language=en_US&language=en", "language"),
])
def test_a_query_parameter_given_twice_is_a_422_naming_it_not_its_last_value(api, path, field):
    # GIVEN a query with one parameter twice (API Gateway joins them with a comma; the local stack too)
    # WHEN read / THEN 422 naming it: answering the last value alone would hide the other filter
    status, problem, _ = api.get(path)
    assert status == 422 and fields(problem) == [field], problem


def test_a_validator_s_own_message_is_not_prefixed_with_pydantic_s_value_error(api):
    # GIVEN a contact with a tag the service computes / WHEN put / THEN the message is ours alone
    status, problem, _ = api.call("PUT", "/v1/contacts/%2B886912345678", {"tags": ["active_7d"]})
    assert status == 422 and problem["errors"][0]["message"].startswith("'active_7d' is a tag the service computes"), problem
