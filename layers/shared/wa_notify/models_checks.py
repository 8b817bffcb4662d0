"""Checks the API models apply to settings and contacts (kept apart from models.py, which holds
the models themselves): tags the service computes, names given twice, URLs as written."""

from __future__ import annotations

from typing import Any

# Tags the service computes for every contact (domain/conversation.computed_tags): a stored tag or
# a value tier of the same name would put contacts in segments they are not in.
COMPUTED_TAGS = ("active_7d", "inactive_30d", "cold")


def _check_tags(names: list[str], what: str) -> None:
    """Tags compare as written (a segment's `tag` matches exactly), so what is almost surely a
    slip is refused: spaces around a tag, a computed name in any case, a tag given twice in any case."""
    import unicodedata

    if padded := [t for t in names if t != t.strip()]:
        raise ValueError(f"{what} {padded[0]!r} has spaces around it")
    folded = [unicodedata.normalize("NFKC", t).casefold() for t in names]
    if taken := [t for t, f in zip(names, folded, strict=True) if f in COMPUTED_TAGS]:
        raise ValueError(f"{taken[0]!r} is a tag the service computes from the customer's activity; choose another name")
    if len(set(folded)) < len(folded):
        raise ValueError(f"{what} {next(t for t, f in zip(names, folded, strict=True) if folded.count(f) > 1)!r} is given twice")


def own_tags(tags: list[str] | None) -> list[str] | None:
    if tags is not None:
        _check_tags(tags, "tag")
    return tags


def distinct_tiers(tiers: list[Any] | None) -> list[Any] | None:
    if tiers is not None:
        _check_tags([t.tag for t in tiers], "tier tag")
    return tiers


def distinct_rule_ids(rules: list[Any] | None) -> list[Any] | None:
    """Each rule answers once per conversation by its id: two rules with one id would share that once."""
    ids = [r.id for r in rules or []]
    if len(set(ids)) < len(ids):
        raise ValueError(f"rule id {next(i for i in ids if ids.count(i) > 1)!r} is given twice")
    return rules


def url_as_given(value: Any) -> Any:
    """A URL parser drops or encodes some characters silently (a NUL, a tab): refused as written,
    so the URL stored is the one the platform gave."""
    from wa_notify.domain.callback_urls import has_space_or_control

    if isinstance(value, str) and has_space_or_control(value):
        raise ValueError("cannot contain spaces or control characters")
    return value
