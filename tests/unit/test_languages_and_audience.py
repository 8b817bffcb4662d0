"""The translation chain and a campaign's contact params (issue 16), pure."""

import pytest
from wa_notify.domain import audience
from wa_notify.domain.languages import pick_translation
from wa_notify.domain.problems import ProblemList


@pytest.mark.parametrize(("available", "locale", "default", "expected"), [
    (["en_US", "pt_BR"], "pt_BR", None, ("pt_BR", "contact locale pt_BR")),
    (["en_US", "pt_BR", "pt"], "pt_PT", None, ("pt_BR", "contact locale pt_PT, nearest translation")),
    (["en_US", "pt"], "pt_PT", None, ("pt", "contact locale pt_PT, nearest translation")),
    (["en_US", "pt_BR"], "zh_TW", "en", ("en_US", "no translation for contact locale zh_TW; tenant default_language en")),
    (["en_US", "pt_BR"], None, "pt", ("pt_BR", "the contact has no locale; tenant default_language pt")),
    (["zh_TW", "en_US"], None, None, ("en_US", "the contact has no locale; first translation (no default_language set)")),
    (["en_US", "pt_BR"], "zh_TW", "it", None),
    ([], "pt_PT", None, None),
    # the same script before the other: Hong Kong and Taiwan read Traditional Chinese, Singapore Simplified
    (["zh_CN", "zh_TW"], "zh_HK", None, ("zh_TW", "contact locale zh_HK, nearest translation")),
    (["zh_CN", "zh_HK"], "zh_TW", None, ("zh_HK", "contact locale zh_TW, nearest translation")),
    (["zh_HK", "zh_CN"], "zh_SG", None, ("zh_CN", "contact locale zh_SG, nearest translation")),
    # old ISO codes a phone may report are the languages Meta's codes name
    (["en_US", "he"], "iw_IL", None, ("he", "contact locale iw_IL, nearest translation")),
    (["en_US", "id"], "in", None, ("id", "contact locale in, nearest translation")),
    (["en_US", "fil"], "tl_PH", None, ("fil", "contact locale tl_PH, nearest translation")),
])
def test_the_chain(available, locale, default, expected):
    # GIVEN a template's translations, a contact's locale and a default
    # WHEN a translation is picked
    # THEN locale, its variants, its bare language, then the default (matched the same way) decide
    assert pick_translation(available, locale, default) == expected


def test_contact_params_fill_from_the_contact_or_exclude_it():
    params = {"first_name": {"contact": "name", "default": "there"}, "city": {"contact": "attributes.city"}, "shop": "Lucky Shrub"}
    # GIVEN a contact with a city but no name
    # WHEN the params are filled
    # THEN the default stands in for the name, the city comes from the attributes, fixed values stay
    assert audience.for_contact(params, {"phone": "+1", "attributes": {"city": "Porto"}}) == (
        {"first_name": "there", "city": "Porto", "shop": "Lucky Shrub"}, None)
    # GIVEN a contact without the city (no default): it is excluded, saying why
    assert audience.for_contact(params, {"phone": "+1", "name": "Ana"}) == ({}, "missing:attributes.city")


def test_contact_params_of_the_wrong_shape_are_named():
    problems = ProblemList()
    # GIVEN contact params naming no known path, with extra keys or a bad default
    audience.check({"a": {"contact": "phone"}, "b": {"contact": "name", "x": 1}, "c": {"contact": "name", "default": True}}, problems)
    # THEN each is a problem naming its param
    assert {p.field for p in problems.items} == {"params.a.contact", "params.b", "params.c.default"}


def test_meta_codes_cldr_lacks_are_template_languages_and_dari_reads_as_persian():
    # GIVEN Dari and English (Qatar): on Meta's list, not in CLDR
    from wa_notify.domain.languages import known_language
    from wa_notify.domain.rendering import format_value

    # WHEN checked / THEN they are languages a template may be in; an unknown code is not
    assert known_language("prs_AF") and known_language("en_QA") and not known_language("xx_XX")
    # AND a Dari template's dates read in Persian of Afghanistan, not English
    assert format_value({"date": "2024-09-07"}, "prs_AF") != "September 7, 2024"
