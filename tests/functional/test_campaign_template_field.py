"""A campaign names its template by `template` (a name) and `language`: a template it cannot use is a
422 naming `template`, the field the request has, not `template.name` (a message's shape)."""

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
