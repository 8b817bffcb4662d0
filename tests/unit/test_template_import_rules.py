"""A template Meta approved is imported as Meta holds it: Meta's review rules of placement
(a body starting or ending with a variable, variables side by side, few words for many
variables, quick replies between other buttons, digits in a named variable) refused it at
registration here, never on import, so it sends; what no send could fill stays unsupported."""

import pytest
from wa_notify.domain.rendering import render
from wa_notify.models_templates import spec_from_stored
from wa_notify.services.template_sync import from_meta


def meta_item(body, *, fmt="POSITIONAL", example=None, buttons=None, footer=None):
    components = [{"type": "BODY", "text": body, **({"example": example} if example else {})}]
    if footer:
        components.append({"type": "FOOTER", "text": footer})
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return {"name": "legacy", "language": "es_AR", "category": "UTILITY", "parameter_format": fmt, "status": "APPROVED",
            "id": "1", "components": components}


@pytest.mark.parametrize(("body", "params", "sent"), [
    ("{{1}}, tu pedido {{2}} fue enviado", {"1": "Ana", "2": "A-7"}, "Ana, tu pedido A-7 fue enviado"),
    ("Total: {{1}} {{2}} em {{3}}.", {"1": "R$", "2": "10", "3": "hoje"}, "Total: R$ 10 em hoje."),
    ("Hello {{1}} {{2}} {{3}}", {"1": "a", "2": "b", "3": "c"}, "Hello a b c"),
])
def test_a_meta_approved_body_that_breaks_a_review_rule_imports_sendable(body, params, sent):
    # GIVEN Meta's item for an APPROVED template whose body breaks a rule Meta reviews new templates by
    # WHEN it is imported and then sent
    row = from_meta(meta_item(body), "2026-12-02T00:00:00Z")
    # THEN it is sendable, and renders as Meta would show it
    assert row is not None and row["unsupported"] is None
    assert render(spec_from_stored(row), params).body == sent


def test_quick_replies_between_other_buttons_and_a_named_variable_with_digits_import_sendable():
    # GIVEN an APPROVED NAMED template with {{address_line1}} and buttons QUICK_REPLY, URL, QUICK_REPLY
    buttons = [{"type": "QUICK_REPLY", "text": "Yes"}, {"type": "URL", "text": "Track", "url": "https://t.example.com/x"},
               {"type": "QUICK_REPLY", "text": "No"}]
    item = meta_item("We ship to {{address_line1}} today.", fmt="NAMED", buttons=buttons)
    # WHEN imported
    row = from_meta(item, "2026-12-02T00:00:00Z")
    # THEN it sends with its variable
    assert row is not None and row["unsupported"] is None
    assert render(spec_from_stored(row), {"address_line1": "1 Main St"}).body == "We ship to 1 Main St today."


def test_what_no_send_could_fill_stays_unsupported():
    # GIVEN an APPROVED template with a footer variable (nothing in a send fills a footer)
    row = from_meta(meta_item("Your order shipped.", footer="Ref {{1}}"), "2026-12-02T00:00:00Z")
    # THEN it is imported as unsupported, with the reason
    assert row is not None and "footer" in str(row["unsupported"])


def test_registration_here_still_applies_the_review_rules():
    # GIVEN the same body registered through POST /v1/templates (not stored)
    from wa_notify.domain.problems import Invalid
    from wa_notify.models_templates import validate_template

    with pytest.raises(Invalid) as caught:
        validate_template({"name": "legacy", "language": "es_AR", "category": "UTILITY",
                           "components": [{"type": "BODY", "text": "{{1}}, tu pedido {{2}} fue enviado", "example": {"body_text": [["Ana", "A-7"]]}}]})
    # THEN Meta's start rule refuses it, as Meta would
    assert any("cannot start with a variable" in p.message for p in caught.value.problems)


@pytest.mark.parametrize("body", [{"type": "BODY", "text": "Hi"}, {"type": "BODY", "add_security_recommendation": True}])
def test_an_authentication_template_is_not_created_here_but_imported(body):
    # GIVEN an AUTHENTICATION template with the business's own body, or Meta's preset form
    from wa_notify.domain.problems import Invalid
    from wa_notify.models_templates import validate_template

    payload = {"name": "login_code", "language": "en_US", "category": "AUTHENTICATION",
               "components": [body, {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}]}
    # WHEN registered here / THEN refused, saying to create it at Meta and import it (Meta writes the body)
    with pytest.raises(Invalid) as caught:
        validate_template(payload)
    assert any("POST /v1/templates/sync" in p.message for p in caught.value.problems)
    # AND the same template as Meta lists it (its preset text written out) imports sendable
    meta = {**payload, "parameter_format": "POSITIONAL", "status": "APPROVED", "id": "9",
            "components": [{"type": "BODY", "text": "*{{1}}* is your verification code. For your security, do not share this code."},
                           payload["components"][1]]}
    row = from_meta(meta, "2026-12-02T00:00:00Z")
    assert row is not None and row["unsupported"] is None
