"""Checks the API models apply to settings and contacts (kept apart from models.py, which holds
the models themselves): tags the service computes, names given twice, URLs as written."""

from __future__ import annotations

from typing import Any

# Tags the service computes for every contact (domain/conversation.computed_tags): a stored tag or
# a value tier of the same name would put contacts in segments they are not in.
COMPUTED_TAGS = ("active_7d", "inactive_30d", "cold")


def own_tags(tags: list[str] | None) -> list[str] | None:
    if tags is None:
        return None
    if taken := [t for t in tags if t in COMPUTED_TAGS]:
        raise ValueError(f"{taken[0]!r} is a tag the service computes from the customer's activity; choose another name")
    if len(set(tags)) < len(tags):
        raise ValueError(f"{next(t for t in tags if tags.count(t) > 1)!r} is given twice")
    return tags


def distinct_tiers(tiers: list[Any] | None) -> list[Any] | None:
    if tiers is None:
        return None
    names = [t.tag for t in tiers]
    if taken := [t for t in names if t in COMPUTED_TAGS]:
        raise ValueError(f"{taken[0]!r} is a tag the service computes from the customer's activity; choose another name")
    if len(set(names)) < len(names):
        raise ValueError(f"tier tag {next(t for t in names if names.count(t) > 1)!r} is given twice")
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
    if isinstance(value, str) and any(ord(c) < 0x21 or c == "\x7f" for c in value):
        raise ValueError("cannot contain spaces or control characters")
    return value
