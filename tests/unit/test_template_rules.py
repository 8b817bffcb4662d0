"""Every rule Meta applies at template creation has a case that must be rejected."""

import copy
import json
from pathlib import Path

import pytest
from wa_notify.domain.problems import Invalid
from wa_notify.models_templates import validate_template

VALID = json.loads((Path(__file__).parents[2] / "events/api/create_template.json").read_text())

POSITIONAL = {
    "name": "visit_reminder",
    "language": "zh_TW",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Visit on {{1}}", "example": {"header_text": ["9/7"]}},
        {"type": "BODY", "text": "Hi {{1}}, see you at {{2}} with Dr. {{3}}.", "example": {"body_text": [["Ana", "10:00", "Lin"]]}},
    ],
}


def problems_of(payload):
    with pytest.raises(Invalid) as caught:
        validate_template(payload)
    return [(p.field, p.message) for p in caught.value.problems]


def with_change(base, change):
    payload = copy.deepcopy(base)
    change(payload)
    return payload


def test_valid_named_and_positional_templates_pass():
    # GIVEN Meta's own creation JSON in both parameter formats
    # WHEN validated
    named = validate_template(VALID)
    positional = validate_template(POSITIONAL)
    # THEN the variables are found in order, with their examples
    assert [v.name for v in named.variables] == ["order_id", "first_name", "total", "eta", "1"]
    assert named.parameter_format == "NAMED"
    assert [v.name for v in positional.body_variables] == ["1", "2", "3"]
    assert positional.parameter_format == "POSITIONAL"


def test_lowercase_types_are_accepted_and_normalized():
    payload = with_change(POSITIONAL, lambda p: (p.update(category="utility"), p["components"][1].update(type="body")))
    spec = validate_template(payload)
    assert spec.category == "UTILITY" and spec.components[1]["type"] == "BODY"


CASES = [
    ("name missing", lambda p: p.pop("name"), "name", "is required"),
    ("name not text", lambda p: p.update(name=5), "name", "is required"),
    ("button type", lambda p: p["components"][3]["buttons"][0].update(type="LINK"), "components[3].buttons[0].type", "QUICK_REPLY, URL"),
    ("component not an object", lambda p: p["components"].append("FOOTER"), "components[4]", "must be an object"),
    ("name format", lambda p: p.update(name="Order Shipped!"), "name", "lowercase"),
    ("name length", lambda p: p.update(name="a" * 513), "name", "512"),
    ("language code", lambda p: p.update(language="en-US"), "language", "language code"),
    ("category", lambda p: p.update(category="PROMO"), "category", "MARKETING"),
    ("parameter format", lambda p: p.update(parameter_format="mixed"), "parameter_format", "NAMED or POSITIONAL"),
    ("body required", lambda p: p.update(components=[c for c in p["components"] if c["type"] != "BODY"]), "components", "BODY"),
    ("body length", lambda p: p["components"][1].update(text="Hi {{first_name}}, " + "x" * 1020 + " {{total}} {{eta}}."), "components[1].text", "1024"),
    ("header length", lambda p: p["components"][0].update(text="Order {{order_id}} " + "y" * 60), "components[0].text", "60"),
    ("header one variable", lambda p: p["components"][0].update(text="Order {{order_id}} for {{first_name}} ok"), "components[0].text", "at most 1"),
    ("header no newline", lambda p: p["components"][0].update(text="Order\n{{order_id}} shipped"), "components[0].text", "new lines"),
    ("footer variables", lambda p: p["components"][2].update(text="Bye {{first_name}} now"), "components[2].text", "footer cannot contain variables"),
    ("footer length", lambda p: p["components"][2].update(text="f" * 61), "components[2].text", "60"),
    ("variable at start", lambda p: p["components"][1].update(text="{{first_name}}, your order of {{total}} arrives {{eta}}."), "components[1].text", "start"),
    ("variable at end", lambda p: p["components"][1].update(text="Hi {{first_name}}, your order of {{total}} arrives {{eta}}"), "components[1].text", "end"),
    ("adjacent variables", lambda p: p["components"][1].update(text="Hi {{first_name}}{{total}} your order arrives {{eta}}."), "components[1].text", "next to each other"),
    ("adjacent with space", lambda p: p["components"][1].update(text="Hi {{first_name}} {{total}} your order arrives {{eta}}."), "components[1].text", "next to each other"),
    ("missing example", lambda p: p["components"][1]["example"]["body_text_named_params"].pop(), "components[1].example", "missing example for variable {{eta}}"),
    ("positional style in NAMED", lambda p: p["components"][1].update(text="Hi {{1}}, your order of {{total}} arrives {{eta}}."), "components[1].text", "not a valid named variable"),
    ("mismatched braces", lambda p: p["components"][1].update(text="Hi {{first_name}, your order of {{total}} arrives {{eta}}."), "components[1].text", "braces"),
    ("duplicate named variable", lambda p: p["components"][1].update(text="Hi {{first_name}}, {{first_name}} again, total {{total}} on {{eta}}."), "components[1].text", "more than once"),
    ("button label length", lambda p: p["components"][3]["buttons"][1].update(text="x" * 26), "components[3].buttons[1].text", "25"),
    ("url variable at end", lambda p: p["components"][3]["buttons"][0].update(url="https://t.example.com/{{1}}/info"), "components[3].buttons[0].url", "end of the URL"),
    ("url example", lambda p: p["components"][3]["buttons"][0].pop("example"), "components[3].buttons[0].example", "example"),
    ("url count", lambda p: p["components"][3]["buttons"].extend([{"type": "URL", "text": "a", "url": "https://a.example"}] * 2), "components[3].buttons", "at most 2"),
    ("button count", lambda p: p["components"][3].update(buttons=[{"type": "QUICK_REPLY", "text": f"q{i}"} for i in range(11)]), "components[3].buttons", "at most 10"),
    ("phone count", lambda p: p["components"][3]["buttons"].extend([{"type": "PHONE_NUMBER", "text": "c", "phone_number": "+15550051310"}] * 2), "components[3].buttons", "PHONE_NUMBER"),
    ("quick replies grouped", lambda p: p["components"][3]["buttons"].append({"type": "URL", "text": "b", "url": "https://b.example"}) or p["components"][3]["buttons"].insert(0, {"type": "QUICK_REPLY", "text": "First"}), "components[3].buttons", "grouped"),
    ("copy code example", lambda p: p["components"][3]["buttons"].append({"type": "COPY_CODE", "example": "X" * 16}), "components[3].buttons[2].example", "15"),
    ("promotional utility", lambda p: p["components"][1].update(text="Hi {{first_name}}, enjoy a 20% discount on {{total}} until {{eta}}."), "components[1].text", "promotional"),
    ("unknown component", lambda p: p["components"].append({"type": "CAROUSEL"}), "components[4].type", "HEADER, BODY"),
    ("two bodies", lambda p: p["components"].append(copy.deepcopy(p["components"][1])), "components[4].type", "at most one BODY"),
    ("too many variables for the length", lambda p: p["components"][1].update(text="A {{first_name}}, {{total}}, {{eta}}!"), "components[1].text", "too many variables"),
    ("media header handle", lambda p: p["components"].__setitem__(0, {"type": "HEADER", "format": "IMAGE"}), "components[0].example.header_handle", "media handle"),
    ("header control character", lambda p: p["components"][0].update(text="Order {{order_id}} ship\x07ped"), "components[0].text", "control characters"),
    ("body control character", lambda p: p["components"][1].update(text="Hi {{first_name}},\x00 your order of {{total}} arrives {{eta}}."), "components[1].text", "control characters"),
    ("footer control character", lambda p: p["components"][2].update(text="Lucky\x00Shrub"), "components[2].text", "control characters"),
    ("footer invisible only", lambda p: p["components"][2].update(text="\u200b\u200e"), "components[2].text", "invisible"),
    ("button label control character", lambda p: p["components"][3]["buttons"][1].update(text="Stop\x00"), "components[3].buttons[1].text", "control characters"),
    ("button label invisible only", lambda p: p["components"][3]["buttons"][1].update(text="\u200b"), "components[3].buttons[1].text", "invisible"),
]


@pytest.mark.parametrize(("rule", "change", "field", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_rejects_with_the_field_named(rule, change, field, fragment):
    # GIVEN a valid template broken in exactly one way
    payload = with_change(VALID, change)
    # WHEN validated
    found = problems_of(payload)
    # THEN that problem is reported on its field
    assert any(f == field and fragment in m for f, m in found), found


def test_positional_variables_must_be_sequential():
    payload = with_change(POSITIONAL, lambda p: p["components"][1].update(text="Hi {{1}}, see you at {{2}} with Dr. {{4}}.", example={"body_text": [["a", "b", "c"]]}))
    assert any("sequential" in m for _, m in problems_of(payload))


def test_positional_body_example_must_be_nested():
    payload = with_change(POSITIONAL, lambda p: p["components"][1].update(example={"body_text": ["Ana", "10:00", "Lin"]}))
    assert ("components[1].example.body_text", 'must be a nested array: [["value1", "value2"]]') in problems_of(payload)


def test_positional_example_count_must_match():
    payload = with_change(POSITIONAL, lambda p: p["components"][1].update(example={"body_text": [["Ana", "10:00"]]}))
    assert any("2 example(s) for 3 variable(s)" in m for _, m in problems_of(payload))


def test_every_problem_is_listed_at_once():
    # GIVEN a template wrong in several places
    payload = {"name": "Bad", "language": "xx-YY", "category": "X", "components": [{"type": "BODY", "text": "{{1}}{{2}}"}, {"type": "FOOTER", "text": "{{1}}"}]}
    # WHEN validated
    fields = {f for f, _ in problems_of(payload)}
    # THEN each field is named, not only the first problem
    assert {"name", "language", "category", "components[0].text", "components[0].example", "components[1].text"} <= fields


def test_not_an_object():
    assert problems_of(["x"])[0][1].startswith("the body must be a JSON object")


# ---- URL buttons: one variable, {{1}}, at the end of the URL, in both parameter formats ----

def url_button(url, example="https://track.example.com/1Z999AA1"):
    return {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": url, "example": [example]}]}


@pytest.mark.parametrize("base", [VALID, POSITIONAL], ids=["named", "positional"])
def test_url_button_ending_in_1_registers_in_both_parameter_formats(base):
    # GIVEN a template (NAMED or POSITIONAL) whose URL button ends in {{1}}, Meta's only form
    payload = with_change(base, lambda p: p["components"].__setitem__(slice(None), [
        *[c for c in p["components"] if c["type"] != "BUTTONS"], url_button("https://track.example.com/{{1}}")]))
    # WHEN validated
    spec = validate_template(payload)
    # THEN it registers, and the button's variable is "1", filled by button_params["<index>"]
    assert [(v.name, v.component, v.button_index) for v in spec.button_variables] == [("1", "button", 0)]
    assert spec.buttons[0].url_variable == "1"


@pytest.mark.parametrize(("url", "fragment"), [
    ("https://track.example.com/{{tracking_number}}", "variable {{tracking_number}} is not Meta's form"),
    ("https://track.example.com/{{2}}", "variable {{2}} is not Meta's form"),
    ("https://track.example.com/{{1}}/info", "the variable must be at the end of the URL"),
    ("https://track.example.com/{{1}}?a={{1}}", "has 2 variables"),
])
@pytest.mark.parametrize("base", [VALID, POSITIONAL], ids=["named", "positional"])
def test_url_button_in_any_other_form_is_refused_saying_what_meta_expects(base, url, fragment):
    # GIVEN a URL button whose variable is not a single trailing {{1}}
    payload = with_change(base, lambda p: p["components"].__setitem__(slice(None), [
        *[c for c in p["components"] if c["type"] != "BUTTONS"], url_button(url)]))
    # WHEN validated
    found = problems_of(payload)
    # THEN the problem names the URL field and says what Meta expects
    messages = [m for f, m in found if f == f"components[{len(payload['components']) - 1}].buttons[0].url"]
    assert any(fragment in m for m in messages), found
    assert all("written {{1}}" in m and "at the end of its URL" in m for m in messages), messages


def test_a_template_stored_before_the_rule_still_reads_back():
    # GIVEN a template stored (registered before the rule) with a named URL variable
    from wa_notify.models_templates import spec_from_stored

    stored = with_change(VALID, lambda p: p["components"][3]["buttons"][0].update(url="https://t.example.com/{{tracking}}"))
    # WHEN read back from the store
    spec = spec_from_stored(stored)
    # THEN it still builds (so it still sends), with the variable it was registered with
    assert spec.buttons[0].url_variable == "tracking"
    # AND a new registration of the same JSON is refused
    assert any("is not Meta's form" in m for _, m in problems_of(stored))


def test_line_breaks_and_tabs_in_a_body_are_still_text():
    # GIVEN a body with a line break and a tab (the only control characters a customer can read)
    payload = with_change(VALID, lambda p: p["components"][1].update(text="Hi {{first_name}},\nyour order of {{total}}\tarrives {{eta}}."))
    # WHEN validated THEN it registers
    assert validate_template(payload).body_text.count("\n") == 1


def test_a_stored_template_with_a_control_character_still_reads_back():
    # GIVEN a template stored as Meta holds it (imported), whose footer holds a control character
    from wa_notify.models_templates import spec_from_stored

    stored = with_change(VALID, lambda p: p["components"][2].update(text="Lucky\x07Shrub"))
    # WHEN read back THEN it builds (what Meta approved still sends)
    assert spec_from_stored(stored).footer_text == "Lucky\x07Shrub"
    # AND a new registration of the same JSON is refused
    assert ("components[2].text", "cannot contain control characters (only line breaks and tabs)") in problems_of(stored)
@pytest.mark.parametrize(("place", "field"), [
    (lambda p, t: p["components"][1].update(text=t), "components[1].text"),
    (lambda p, t: p["components"][0].update(text=t), "components[0].text"),
    (lambda p, t: p["components"][2].update(text=t), "components[2].text"),
    (lambda p, t: p["components"][3]["buttons"][0].update(url="https://t.example.com/" + t), "components[3].buttons[0].url"),
], ids=["body", "header", "footer", "url"])
def test_an_over_long_text_of_open_braces_is_refused_for_its_length_at_once(place, field):
    # GIVEN a text of 100,000 "{{" and no "}}" (200 KB, under the body limit): finding its variables
    # took time in the square of its length (minutes, the API and the local stack held meanwhile)
    import time

    payload = with_change(VALID, lambda p: place(p, "a " + "{{" * 100_000 + " b"))
    # WHEN validated
    started = time.monotonic()
    found = problems_of(payload)
    # THEN it is refused for its length, in well under a second
    assert time.monotonic() - started < 1.0
    assert any(f == field and "characters; at most" in m for f, m in found), found
