"""render() reads what does not depend on a send from the spec's plan (made once per spec) and
skips work a value cannot need: these pin that it still renders each template's own text, keeps
no spec alive, and refuses, encodes and localizes exactly as before."""

import dataclasses
import gc
import json
import weakref
from pathlib import Path

import pytest
from wa_notify.domain.problems import Invalid
from wa_notify.domain.rendering import babel_locale, format_value, plan_of, render
from wa_notify.models_templates import validate_template

SOURCE = json.loads((Path(__file__).parents[2] / "events/api/create_template.json").read_text())
SPEC = validate_template(SOURCE)
PARAMS = {"order_id": "A-1001", "first_name": "Ana", "total": "NT$1,580", "eta": "September 7"}


def with_body(text: str) -> dict:
    """The sample template with another body text (same name, language and variables)."""
    components = [({**c, "text": text} if c["type"] == "BODY" else c) for c in SOURCE["components"]]
    return {**SOURCE, "components": components}


def problems(params=PARAMS, button_params=None) -> dict[str, str]:
    with pytest.raises(Invalid) as caught:
        render(SPEC, params, button_params if button_params is not None else {"0": "1Z"})
    return {p.field: p.message for p in caught.value.problems}


def test_two_templates_with_the_same_name_and_params_each_render_their_own_text():
    # GIVEN the stored template and its re-registration with a new body (same name, language, variables)
    first = validate_template(SOURCE)
    second = validate_template(with_body("Dear {{first_name}}: {{total}} paid, arriving {{eta}}."))
    # WHEN both are rendered with the same params, in turn and again
    bodies = [render(spec, PARAMS, {"0": "1Z"}).body for spec in (first, second, first, second)]
    # THEN each renders its own body every time
    assert bodies == ["Hi Ana, your order of NT$1,580 is on its way and should arrive September 7.",
                      "Dear Ana: NT$1,580 paid, arriving September 7."] * 2


def test_a_changed_copy_of_a_rendered_spec_gets_its_own_plan():
    # GIVEN a spec that has been rendered (its plan made)
    spec = validate_template(SOURCE)
    render(spec, PARAMS, {"0": "1Z"})
    # WHEN a copy with another body is made from it
    changed = dataclasses.replace(spec, body_text="Parcel for {{first_name}}, {{total}}, {{eta}}.")
    # THEN the copy renders its own body, and the original still its own
    assert render(changed, PARAMS, {"0": "1Z"}).body == "Parcel for Ana, NT$1,580, September 7."
    assert render(spec, PARAMS, {"0": "1Z"}).body.startswith("Hi Ana, your order of NT$1,580")


def test_the_plan_is_made_once_per_spec_and_is_not_part_of_it():
    # GIVEN two equal specs, one of them rendered twice
    spec, twin = validate_template(SOURCE), validate_template(SOURCE)
    render(spec, PARAMS, {"0": "1Z"})
    plan = plan_of(spec)
    render(spec, PARAMS, {"0": "1Z"})
    # THEN its plan was made once, and the spec still equals (and prints like) one never rendered
    assert plan_of(spec) is plan
    assert spec == twin
    assert repr(spec) == repr(twin)
    assert dataclasses.asdict(spec) == dataclasses.asdict(twin)


def test_no_cache_keeps_a_rendered_spec_alive():
    # GIVEN a spec rendered once (as a flow step renders a spec parsed for it)
    spec = validate_template(SOURCE)
    render(spec, PARAMS, {"0": "1Z"})
    alive = weakref.ref(spec)
    # WHEN its last reference goes
    del spec
    gc.collect()
    # THEN it is freed: the plan lives on the spec, not in a module-level cache
    assert alive() is None


def test_locales_are_parsed_once_per_code_and_the_cache_is_bounded():
    # GIVEN a language code looked up twice
    assert babel_locale("pt_BR") is babel_locale("pt_BR")
    # WHEN many more distinct codes than the cache holds are looked up (codes come from callers)
    for i in range(600):
        babel_locale(f"en_{i:03d}")  # unknown territories: English, as before
    # THEN it holds at most its bound, and a code still falls back to its base language, then English
    info = babel_locale.cache_info()
    assert info.maxsize is not None and info.currsize <= info.maxsize <= 1024
    assert str(babel_locale("de_XX")) == "de"
    assert str(babel_locale("xx_YY")) == "en"


@pytest.mark.parametrize(("supplied", "suffix"), [
    ("1Z999AA1", "1Z999AA1"),                 # URL-safe only: sent as given
    ("A-1_0.1~x", "A-1_0.1~x"),
    ("1Z 999/AA", "1Z%20999%2FAA"),           # encoded
    ("1Z%20999", "1Z%20999"),                 # already encoded: not doubled
    ("a\\1b", "a%5C1b"),                      # a backslash is text, not a regex back-reference
    ("Zürich", "Z%C3%BCrich"),
])
def test_the_url_suffix_is_percent_encoded_once(supplied, suffix):
    # WHEN the URL button's value is rendered
    out = render(SPEC, PARAMS, {"0": supplied})
    # THEN the URL and the button parameter carry it percent-encoded exactly once
    assert out.buttons[0]["url"] == "https://track.example.com/" + suffix
    assert out.request["template"]["components"][-1]["parameters"] == [{"type": "text", "text": suffix}]


@pytest.mark.parametrize("char", [chr(c) for c in [*range(0x20), 0x7F]])
def test_every_control_character_is_refused_in_params_and_button_values(char):
    # GIVEN a control character inside a body value and inside the URL button's value
    found = problems({**PARAMS, "first_name": f"A{char}na"}, {"0": f"1Z{char}9"})
    # THEN both are refused, named
    assert "params.first_name" in found and "button_params.0" in found


def test_unprintable_spaces_babel_writes_are_still_accepted():
    # GIVEN values with a no-break space and Babel's narrow no-break space (not printable, not refused)
    out = render(SPEC, {**PARAMS, "total": "1.580,00\u00a0€", "eta": "6:30\u202fPM"}, {"0": "1Z"})
    # THEN they are sent as given
    assert out.body == "Hi Ana, your order of 1.580,00\u00a0€ is on its way and should arrive 6:30\u202fPM."


@pytest.mark.parametrize(("value", "shown"), [
    ("2030-01-01T10:00:00+08:00", "January 1, 2030, 10:00\u202fAM"),   # a whole ISO date-time: localized
    ("2030-01-01T10:00:00", "2030-01-01T10:00:00"),                     # no offset: as given
    ("ABCDEFGHIJT-not-a-date", "ABCDEFGHIJT-not-a-date"),
    ("September 7", "September 7"),
])
def test_only_a_whole_iso_date_time_with_offset_is_localized(value, shown):
    out = render(SPEC, {**PARAMS, "eta": value}, {"0": "1Z"})
    assert out.body.endswith(f"should arrive {shown}.")
    assert format_value(value, "en_US") == shown


def test_button_indexes_given_as_numbers_are_read_and_unknown_ones_named():
    # GIVEN the URL button's value keyed by the number 0, and a value for a button 5 that does not exist
    assert render(SPEC, PARAMS, {0: "1Z"}).buttons[0]["url"] == "https://track.example.com/1Z"
    found = problems(PARAMS, {0: "1Z", 5: "x"})
    # THEN only the unknown one is a problem
    assert set(found) == {"button_params.5"}


def test_an_unknown_currency_is_named():
    found = problems({**PARAMS, "total": {"amount": 10, "currency": "XYZ"}})
    assert found == {"params.total": "unknown currency XYZ"}
