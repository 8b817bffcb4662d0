"""A template's language must be one Meta accepts: a code CLDR knows (domain/languages.known_language)."""

import json
from pathlib import Path

import pytest
from wa_notify.domain.languages import known_language
from wa_notify.domain.problems import Invalid
from wa_notify.models_templates import validate_template

TEMPLATE = json.loads((Path(__file__).parents[2] / "events/api/create_template.json").read_text())
# Meta's supported template languages (its page of May 2026, as mirrored in the reference)
META_CODES = ("af sq ar ar_EG az bn bg ca zh_CN zh_HK zh_TW hr cs da nl en en_GB en_US et fil fi fr ka de el gu ha he hi "
              "hu id ga it ja kn kk rw_RW ko ky_KG lo lv lt mk ms ml mr nb fa pl pt_BR pt_PT pa ro ru sr sk sl es es_AR "
              "es_ES es_MX sw sv ta te th tr uk ur uz vi zu").split()


@pytest.mark.parametrize("code", META_CODES)
def test_every_code_meta_accepts_is_known(code):
    assert known_language(code)


@pytest.mark.parametrize("code", ["xx", "qq", "en_XX", "zz_ZZ"])
def test_a_made_up_code_is_refused_at_registration_naming_the_language(code):
    # GIVEN a template whose language fits the code's shape but is no language
    # WHEN it is registered
    with pytest.raises(Invalid) as refused:
        validate_template({**TEMPLATE, "language": code})
    # THEN the problem names `language`, as Meta would refuse it
    assert [p.field for p in refused.value.problems] == ["language"]
    assert repr(code) in refused.value.problems[0].message


def test_a_stored_template_is_read_back_whatever_its_code():
    # GIVEN a template imported from Meta (Meta's own code, judged when it was made)
    # THEN reading it back never refuses it
    assert validate_template({**TEMPLATE, "language": "xx"}, stored=True).language == "xx"
