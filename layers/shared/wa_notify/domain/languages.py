"""Which translation of a template a customer gets, and why. Pure: messages, flows and campaigns
all call `pick_translation` with the translations the template has.

The chain: the contact's locale exactly; else a same-language variant (pt_PT -> pt_BR); else the
bare language (pt); else the default language (the flow's `default_language`, else the
tenant's `PUT /v1/settings {"default_language"}`), matched the same way (en -> en_US). With a
default set and none of these translated, there is no usable translation (None: the caller's
422, or a campaign contact excluded). With no default set anywhere, the first translation (in
code order) goes, as before defaults existed.
"""

from __future__ import annotations

from collections.abc import Iterable

NO_TRANSLATION = "no_translation"


# Old ISO 639 codes phones and platforms still send, and the codes Meta's templates use for them.
LEGACY_LANGUAGES = {"iw": "he", "in": "id", "ji": "yi", "tl": "fil", "no": "nb"}
# Chinese is written in two scripts: a Hong Kong reader gets Taiwan's text before mainland China's.
SCRIPT = {"zh_TW": "Hant", "zh_HK": "Hant", "zh_MO": "Hant", "zh_CN": "Hans", "zh_SG": "Hans"}


def nearest(languages: list[str], wanted: str) -> str | None:
    """`wanted` exactly, else its first same-language variant (one in the same script first),
    else its bare language. An old code (iw, in, tl...) counts as the one Meta uses (he, id, fil)."""
    if wanted in languages:
        return wanted
    base, _, region = wanted.partition("_")
    if base in LEGACY_LANGUAGES:
        base = LEGACY_LANGUAGES[base]
        wanted = f"{base}_{region}" if region else base
        if wanted in languages:
            return wanted
    variants = [lang for lang in languages if lang.split("_")[0] == base and lang != base]
    if variants:
        script = SCRIPT.get(wanted)
        return sorted(variants, key=lambda lang: script is not None and SCRIPT.get(lang) != script)[0]
    return base if base in languages else None


def pick_translation(available: Iterable[str], locale: str | None, default: str | None = None,
                     default_from: str = "tenant") -> tuple[str, str] | None:
    """(language, why) for a contact with `locale`; None when no translation is usable.
    `default_from` names whose default it is in the reason ("flow" or "tenant")."""
    languages = sorted(set(available))
    if not languages:
        return None
    if locale:
        if locale in languages:
            return locale, f"contact locale {locale}"
        if (close := nearest(languages, locale)) is not None:
            return close, f"contact locale {locale}, nearest translation"
    why = f"no translation for contact locale {locale}" if locale else "the contact has no locale"
    if default:
        if (chosen := nearest(languages, default)) is not None:
            return chosen, f"{why}; {default_from} default_language {default}"
        return None
    return languages[0], f"{why}; first translation (no default_language set)"


def no_translation_problem(name: str, locale: str | None, default: str | None, languages: Iterable[str]) -> str:
    """The 422's message when `pick_translation` found nothing."""
    return (f"template {name} has no translation for " + (f"locale {locale} or " if locale else "")
            + f"default_language {default} (it has {', '.join(sorted(languages))}); give the language")


# Codes on Meta's list of template languages (developers.facebook.com, "Supported Languages",
# 2026-05-21) that CLDR has no locale for: Dari (prs_AF) and English (Qatar).
META_CODES_CLDR_LACKS = frozenset({"prs_AF", "en_QA"})


def known_language(code: str) -> bool:
    """Whether `code` names a language (and territory) CLDR knows, as the codes Meta accepts for a
    template do (en, en_US, pt_BR, fil, zh_HK, rw_RW...; and META_CODES_CLDR_LACKS); "xx" or
    "en_XX" does not. Babel is imported here, on a template's registration only (not on the intake path)."""
    from babel import Locale, UnknownLocaleError

    if code in META_CODES_CLDR_LACKS:
        return True
    try:
        Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return False
    return True
