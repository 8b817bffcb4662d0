import json
from pathlib import Path

import pytest
from wa_notify.domain.problems import Invalid
from wa_notify.domain.rendering import format_value, render, text_request
from wa_notify.models_templates import validate_template

SPEC = validate_template(json.loads((Path(__file__).parents[2] / "events/api/create_template.json").read_text()))
PARAMS = {"order_id": "A-1001", "first_name": "Ana", "total": {"amount": 1580, "currency": "TWD"}, "eta": {"date": "2024-09-07"}}


def problems(params, button_params=None, spec=SPEC):
    with pytest.raises(Invalid) as caught:
        render(spec, params, button_params if button_params is not None else {"0": "1Z"})
    return {p.field: p.message for p in caught.value.problems}


def test_render_builds_the_exact_cloud_api_request():
    # GIVEN a NAMED template and typed params
    # WHEN rendered for a recipient with our message id as callback data
    out = render(SPEC, PARAMS, {"0": "1Z 999/AA"}, to="+886912345678", callback_data="msg_1")
    # THEN header, body, footer and buttons are filled and the request is Meta's format
    assert out.header == "Order A-1001 shipped"
    assert out.body == "Hi Ana, your order of NT$1,580.00 is on its way and should arrive September 7, 2024."
    assert out.footer == "Lucky Shrub"
    assert out.buttons[0]["url"] == "https://track.example.com/1Z%20999%2FAA"
    assert out.request == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+886912345678",
        "type": "template",
        "template": {
            "name": "order_shipped",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "A-1001", "parameter_name": "order_id"}]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Ana", "parameter_name": "first_name"},
                    {"type": "text", "text": "NT$1,580.00", "parameter_name": "total"},
                    {"type": "text", "text": "September 7, 2024", "parameter_name": "eta"}]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "1Z%20999%2FAA"}]},
            ],
        },
        "biz_opaque_callback_data": "msg_1",
    }


@pytest.mark.parametrize(("value", "language", "expected"), [
    ({"amount": 1580, "currency": "TWD"}, "zh_TW", "$1,580.00"),
    ({"amount": 1580, "currency": "TWD"}, "en_US", "NT$1,580.00"),
    ({"amount": 1234.5, "currency": "EUR"}, "de", "1.234,50\xa0€"),
    ({"date": "2024-09-07"}, "zh_TW", "2024年9月7日"),
    ({"date": "2024-09-07"}, "pt_BR", "7 de setembro de 2024"),
    ({"datetime": "2024-09-07T10:30:00Z", "timezone": "Asia/Taipei"}, "en_US", "September 7, 2024, 6:30\u202fPM"),
    ({"datetime": "2024-09-07T18:30:00", "timezone": "Asia/Taipei", "format": "short"}, "en_US", "9/7/24, 6:30\u202fPM"),
    ({"number": 1234567.5}, "en_US", "1,234,567.5"),
    ("plain", "en_US", "plain"),
])
def test_typed_values_are_localized_in_the_template_language(value, language, expected):
    assert format_value(value, language) == expected


@pytest.mark.parametrize("bad", ["two\nlines", "a\ttab", "five     spaces"])
def test_whitespace_rules_reject_before_anything_is_sent(bad):
    found = problems({**PARAMS, "first_name": bad})
    assert "new lines, tabs or more than 4 consecutive spaces" in found["params.first_name"]


def test_four_spaces_are_allowed():
    assert "a    b" in render(SPEC, {**PARAMS, "first_name": "a    b"}, {"0": "x"}).body


def test_missing_unknown_and_invalid_params_are_all_listed():
    found = problems({"first_name": "Ana", "nope": "x", "total": {"amount": 1, "currency": "XXY"}, "eta": {"date": "07/09/2024"}}, {})
    assert set(found) == {"params.order_id", "params.nope", "params.total", "params.eta", "button_params.0"}


def test_header_parameter_is_limited_to_60_characters():
    found = problems({**PARAMS, "order_id": "x" * 61})
    assert "at most 60" in found["params.order_id"]


def test_datetime_without_zone_is_rejected():
    found = problems({**PARAMS, "eta": {"datetime": "2024-09-07T10:00:00"}})
    assert "timezone" in found["params.eta"]


def test_unknown_timezone_is_rejected():
    found = problems({**PARAMS, "eta": {"datetime": "2024-09-07T10:00:00", "timezone": "Mars/Base"}})
    assert "IANA" in found["params.eta"]


def test_positional_params_keep_their_order():
    spec = validate_template({"name": "t", "language": "en", "category": "UTILITY", "components": [
        {"type": "BODY", "text": "Hi {{1}}, at {{2}} ok.", "example": {"body_text": [["a", "b"]]}}]})
    out = render(spec, {"2": "ten", "1": "Ana"})
    assert out.request["template"]["components"] == [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "ten"}]}]


def test_text_message_request():
    assert text_request("+15550001111", "hello")["text"] == {"preview_url": False, "body": "hello"}
    with pytest.raises(Invalid):
        text_request("+15550001111", "x" * 4097)


POSITIONAL_HEADER_AND_BODY = validate_template({
    "name": "order_update", "language": "en_US", "category": "UTILITY", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["#123"]}},
        {"type": "BODY", "text": "Hi {{1}}! Your order {{2}} has shipped.", "example": {"body_text": [["Pablo", "860198"]]}}]})


def test_a_positional_header_variable_beside_the_body_s_of_its_number_is_given_as_header_1():
    # GIVEN a POSITIONAL template whose header and body both have a {{1}} (Meta numbers each component apart)
    spec = POSITIONAL_HEADER_AND_BODY
    # WHEN it is sent with a value for each
    out = render(spec, {"header.1": "A-1001", "1": "Ana", "2": "860198"})
    # THEN the header shows its own value and the request carries it in the header component
    assert (out.header, out.body) == ("Order A-1001", "Hi Ana! Your order 860198 has shipped.")
    assert out.request["template"]["components"][0] == {"type": "header", "parameters": [{"type": "text", "text": "A-1001"}]}
    assert [v.as_dict()["name"] for v in spec.variables] == ["header.1", "1", "2"]


def test_a_positional_header_variable_beside_the_body_s_is_never_filled_by_the_body_s_value():
    # GIVEN the same template / WHEN sent with the body's values only
    found = problems({"1": "Ana", "2": "860198"}, {}, spec=POSITIONAL_HEADER_AND_BODY)
    # THEN the header's own key is asked for (the customer never reads "Order Ana")
    assert list(found) == ["params.header.1"] and "header's {{1}}" in found["params.header.1"]


def test_a_positional_header_variable_alone_keeps_its_number_as_key():
    # GIVEN a POSITIONAL template whose body has no variables / WHEN the header's {{1}} is given as "1"
    spec = validate_template({"name": "ready", "language": "en_US", "category": "UTILITY", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["#123"]}},
        {"type": "BODY", "text": "Your order is ready for pickup."}]})
    # THEN it fills the header, as before
    assert render(spec, {"1": "A-7"}).header == "Order A-7"


def imported(payload):
    """A template as Meta holds it, read back as sends read it."""
    from wa_notify.models_templates import spec_from_stored

    return spec_from_stored({"parameter_format": "POSITIONAL", **payload})


OTP_TEMPLATE = {"name": "login_code", "language": "en_US", "category": "AUTHENTICATION", "components": [
    {"type": "BODY", "text": "{{1}} is your verification code."},
    {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}]}


def test_an_authentication_template_s_otp_button_carries_the_body_s_code():
    # GIVEN an AUTHENTICATION template with an OTP button, as Meta holds it
    spec = imported(OTP_TEMPLATE)
    # WHEN the code is given once, as the body's variable
    out = render(spec, {"1": "482913"})
    # THEN the request carries it in the body and in the button at index 0, as Meta requires
    components = out.request["template"]["components"]
    assert components == [{"type": "body", "parameters": [{"type": "text", "text": "482913"}]},
                          {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "482913"}]}]


@pytest.mark.parametrize(("params", "button_params", "field"), [
    ({"1": "1234567890123456"}, {}, "params.1"),  # 16 characters: Meta's limit is 15
    ({"1": "https://x.co"}, {}, "params.1"),  # no URL in an authentication template
    ({"1": "482913"}, {"0": "999999"}, "button_params.0"),  # the button's code is the body's
])
def test_an_authentication_code_meta_would_refuse_is_refused_naming_its_field(params, button_params, field):
    # GIVEN the OTP template / WHEN sent with a code Meta refuses / THEN 422 naming the field
    assert field in problems(params, button_params, spec=imported(OTP_TEMPLATE))


COPY_CODE_TEMPLATE = {"name": "promo", "language": "en_US", "category": "MARKETING", "components": [
    {"type": "BODY", "text": "Your code for 25% off is below."},
    {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "25OFF"}]}]}


def test_a_copy_code_button_sends_the_coupon_of_the_send_and_needs_one():
    # GIVEN Meta's own COPY_CODE JSON (no label: Meta writes "Copy offer code"), registered here
    spec = validate_template(COPY_CODE_TEMPLATE)
    # WHEN sent with a coupon, without one and with one of 16 characters
    sent = render(spec, {}, {"0": "SAVE25"}).request["template"]["components"]
    # THEN the coupon goes as Meta's coupon_code parameter; none or too long is refused
    assert sent == [{"type": "button", "sub_type": "copy_code", "index": "0", "parameters": [{"type": "coupon_code", "coupon_code": "SAVE25"}]}]
    assert "button_params.0" in problems({}, {}, spec=spec)
    assert "button_params.0" in problems({}, {"0": "X" * 16}, spec=spec)


def test_an_authentication_code_with_an_emoji_is_refused_once_naming_the_body_parameter():
    # GIVEN the OTP template / WHEN its code holds an emoji (Meta refuses it) or is too long
    for code in ("\U0001F600123", "1234567890123456"):
        found = problems({"1": code}, {}, spec=imported(OTP_TEMPLATE))
        # THEN one problem, on the body's code (the button takes it from there: no second one)
        assert list(found) == ["params.1"] and "emoji" in found["params.1"]
