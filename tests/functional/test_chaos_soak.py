"""The chaos suite at a CI-friendly size (`make soak N=...` runs it bigger): provider errors and
lost answers, duplicated SQS deliveries to concurrent workers, killed senders, double
dispatcher fires, cancels racing sends, reordered, duplicated, batched, refused webhooks, and
poison records on every queue."""

import json
from pathlib import Path

from infra.bench import soak


def test_chaos_loses_nothing_sends_nothing_twice_and_never_goes_backwards():
    # GIVEN 150 messages in every lane under all the faults at once
    # WHEN the system runs until every message settles
    report = soak.run(n=150, seed=11)
    out = Path(__file__).parents[2] / ".bench"
    out.mkdir(exist_ok=True)
    (out / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    # THEN every accepted message is terminal, none was sent twice, none went down, no lease is orphaned
    assert report["accepted"] == 150 and report["terminal"] == 150 and report["lost"] == 0, report
    assert report["duplicate_sends"] == 0 and report["downgrades"] == 0 and report["orphans"] == 0, report
    assert report["cancelled_but_sent"] == 0, report
    # AND every poison record ended in its queue's DLQ after maxReceiveCount, and nothing else stalled on it
    assert report["poison_in_dlq"] == report["poison_injected"] > 0, report
    # AND the faults really happened
    assert sum(report["injected_faults"].values()) >= 20, report
