"""DueIndex and CampaignIndex project nothing a transition changes (issue 14: index write units).

DynamoDB writes a GSI entry whenever an item's projected attribute changes, so an index that
projects `status` or the lease is written on every send and status; these two indexes project
at most attributes written once, when the message is created."""

import re
from pathlib import Path

import pytest

from infra.local.provision import load_template

ROOT = Path(__file__).parents[2]
STORAGE = ROOT / "layers/shared/wa_notify/adapters/storage"
pytestmark = pytest.mark.infra

# What every message transition writes, whatever the scan below finds: the floor of the rule.
TRANSITIONS_ALWAYS_WRITE = {"status", "updated_at", "lease_token", "lease_until", "events", "attempts", "wamid"}
# Written once when a message is created and never by an update of a message (the scan sees them
# only in other items' writes: the fallback deadline's creating upsert, a number's row), so an
# index may project them at no cost per transition.
SET_ONCE = {"id", "tenant_id", "priority", "phone_number_id", "to"}


def indexes() -> dict[str, dict]:
    table = next(r for r in load_template()["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"
                 and r["Properties"].get("GlobalSecondaryIndexes"))
    return {i["IndexName"]: i for i in table["Properties"]["GlobalSecondaryIndexes"]}


def attributes_updates_write() -> set[str]:
    """Top-level attributes named as targets by the storage adapters' update expressions (SET x =,
    REMOVE x, y, ADD x) and in the fields the lease's ways out set; `#x` placeholders there are
    named after their attribute."""
    found: set[str] = set()
    for path in STORAGE.glob("*.py"):
        source = path.read_text()
        constants = dict(re.findall(r'^([A-Z_]+) = "([^"]*)"', source, re.M))
        for literal in re.findall(r'f?"((?:[^"\\]|\\.)*(?:SET |REMOVE |ADD )(?:[^"\\]|\\.)*)"', source):
            text = re.sub(r"\{([A-Z_]+)\}", lambda m, c=constants: c.get(m.group(1), ""), literal)
            found |= set(re.findall(r"(?:SET |,\s*)([#\w]+)(?:\.[#\w]+)*\s*=", text))
            for clause in re.findall(r"REMOVE ([#\w, .]+)", text):
                found |= {part.strip().split(".")[0] for part in clause.split(",") if part.strip()}
            found |= set(re.findall(r"ADD ([#\w]+)", text))
        # _end_lease(..., fields={"name": ...}) and its callers' fields dicts
        for body in re.findall(r"fields=\{([^}]*)\}", source):
            found |= set(re.findall(r'"(\w+)":', body))
    return ({name.lstrip("#") for name in found if not re.fullmatch(r"#?f\d+", name)} - SET_ONCE) | TRANSITIONS_ALWAYS_WRITE


def projected(index: dict) -> set[str] | None:
    """Its non-key projected attributes; None for ALL (everything)."""
    projection = index["Projection"]
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return None
    return set(projection.get("NonKeyAttributes", [])) if kind == "INCLUDE" else set()


def test_the_scan_sees_the_transitions_writes():
    # GIVEN the storage adapters' update expressions
    # WHEN their targets are collected
    written = attributes_updates_write()
    # THEN what the lease, the statuses and the due index move is among them (the scan works)
    assert {"due_at", "due_shard", "failed_key", "last_error", "cancel_reason", "request"} <= written


@pytest.mark.parametrize("name", ["DueIndex", "CampaignIndex"])
def test_index_projects_no_attribute_a_transition_changes(name):
    # GIVEN the index in template.yaml and every attribute a transition writes
    index = indexes()[name]
    written = attributes_updates_write()
    # WHEN its projection is read
    attrs = projected(index)
    # THEN it projects nothing a transition changes (ALL would project every one of them)
    assert attrs is not None, f"{name} projects ALL: every transition would rewrite its entries"
    assert not attrs & written, f"{name} projects {sorted(attrs & written)}: each change of them writes the index"
