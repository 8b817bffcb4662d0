"""The chaos suite at a CI-friendly size (`make soak N=...` runs it bigger): provider errors and
lost answers, duplicated SQS deliveries to concurrent workers, killed senders, double
dispatcher fires, cancels racing sends, reordered, duplicated, batched, refused webhooks,
poison records on every queue, stream batches failing and delivered again, and one tenant's
callback URL down for an hour of the fake clock while another tenant's stays up."""

import contextlib
import json
import os
import sys
from pathlib import Path

from infra.bench import soak

ROOT = Path(__file__).resolve().parents[2]
# Written by Python itself or by pytest, not by the code under test.
NOT_THE_TREE = {".venv", ".git", "__pycache__", ".pytest_cache"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_recording: list[list[Path]] = []


def _audit(event, args):
    """Every file opened for writing inside the repository while a test records (an audit hook
    sees each open, whoever makes it; other people editing the tree at the same time do not count)."""
    if event != "open" or not _recording or not isinstance(args[0], str | bytes | os.PathLike):
        return
    path, mode, flags = args
    writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & WRITE_FLAGS)
    if not writing:
        return
    where = Path(os.fsdecode(path)).absolute()
    if where.is_relative_to(ROOT) and not NOT_THE_TREE & set(where.relative_to(ROOT).parts):
        _recording[-1].append(where)


sys.addaudithook(_audit)  # hooks cannot be removed; it records only inside a test's `with`


@contextlib.contextmanager
def files_written_in_tree():
    _recording.append([])
    try:
        yield _recording[-1]
    finally:
        _recording.pop()


def test_chaos_loses_nothing_sends_nothing_twice_and_never_goes_backwards(tmp_path):
    # GIVEN 150 messages of two tenants in every lane under all the faults at once, senders dying
    # among them, the callback stream failing at random and the dev tenant's platform down for an hour
    # WHEN `make soak` runs at that size, its report sent to a temporary directory
    out = tmp_path / "soak.json"
    with files_written_in_tree() as written:
        code = soak.main(["150", "--seed", "11", "--out", str(out)])
    report = json.loads(out.read_text())
    # THEN every accepted message is terminal, none was sent twice, none went down, no lease is orphaned
    assert code == 0, report
    assert report["accepted"] == 150 and report["terminal"] == 150 and report["lost"] == 0, report
    assert report["duplicate_sends"] == 0 and report["downgrades"] == 0 and report["orphans"] == 0, report
    assert report["cancelled_but_sent"] == 0, report
    # AND every poison record ended in its queue's DLQ after maxReceiveCount, and nothing else stalled on it
    assert report["poison_in_dlq"] == report["poison_injected"] > 0, report
    # AND the faults really happened: senders died holding the lease and after WhatsApp accepted
    assert sum(report["injected_faults"].values()) >= 20, report
    assert report["senders_killed"] > 0 and all(report["senders_killed_at"].values()), report
    # AND on the new paths: stream batches failed and were delivered again, the dev platform failed
    faults = report["injected_faults"]
    assert faults.get("stream_error_before", 0) + faults.get("stream_error_after", 0) + faults.get("stream_items_failed", 0) > 0, report
    assert faults.get("callback_503", 0) > 0 and faults.get("callback_hang", 0) > 0, report
    assert report["second_tenant_messages"] > 0 and report["callback_posts"].get("second/200", 0) > 0, report
    # AND the platforms saw no status go back, got every message's final status, the healthy
    # tenant's on time through the other's outage, and nothing was parked
    assert report["callbacks_backwards"] == 0 and report["callbacks_final_missing"] == 0, report
    assert report["healthy_tenant_late"] == 0 and report["callbacks_parked"] == 0, report
    # AND the report says what the run cost
    assert report["seconds"] > 0 and report["max_rss_mb"] > 0, report
    # AND nothing in the repository was written (.bench/soak.json is `make soak`'s alone)
    assert written == [], written


def test_transactions_leave_no_table_copies_behind(stack, api, message_body):
    # GIVEN the local stack, whose moto deep-copies the whole table for each item of a transaction
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    api.approved_template()
    tables, items = len(Table.instances_tracked), len(Item.instances_tracked)
    # WHEN 20 messages are accepted, each written in one transaction
    for i in range(20):
        assert api.post("/v1/messages", {**message_body, "to": f"+1415555{i:04d}"})[0] == 202
    # THEN moto kept none of those copies (it did, for its dashboard: memory grew as N squared)
    assert len(Table.instances_tracked) == tables and len(Item.instances_tracked) == items
