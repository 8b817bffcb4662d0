"""Campaign requests refused by the fields they have: a template it cannot use is a 422 naming
`template` (a campaign's template is a name, not a message's {name, language}); an empty contact
list is a 422 naming segment.contacts."""

import pytest

CAMPAIGN = {"template": "order_shipped", "language": "en_US", "segment": {"contacts": ["+14155550177"]},
            "params": {"order_id": "SALE", "first_name": "friend", "total": {"amount": 0, "currency": "USD"},
                       "eta": {"date": "2030-01-01"}},
            "button_params": {"0": "sale"}}


@pytest.mark.parametrize(("template", "language"), [("no_such_template", "en_US"), ("../x", "en_US"), ("order_shipped", "zz"),
                                                    ("no_such_template", None)])
def test_an_unknown_campaign_template_is_a_422_naming_template(api, stack, template, language):
    # GIVEN order_shipped approved in en_US
    api.approved_template()
    body = {**CAMPAIGN, "template": template, "language": language}
    # WHEN a campaign names a template (or translation) the tenant does not have
    status, problem, _ = api.post("/v1/campaigns", body)
    # THEN 422 naming template, and no campaign is written
    assert status == 422, problem
    assert [p["field"] for p in problem["errors"]] == ["template"]
    assert api.get("/v1/campaigns")[1]["items"] == []


def test_a_campaign_to_an_empty_contact_list_is_refused(api):
    # GIVEN an approved template WHEN a campaign lists no contacts at all
    api.approved_template()
    status, problem, _ = api.post("/v1/campaigns", {**CAMPAIGN, "segment": {"contacts": []}})
    # THEN 422 naming segment.contacts, and no campaign is written (it would complete having sent nothing)
    assert status == 422, problem
    assert [p["field"] for p in problem["errors"]] == ["segment.contacts"]
    assert api.get("/v1/campaigns")[1]["items"] == []
