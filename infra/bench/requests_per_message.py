"""Count AWS requests per message, by operation, through the real handlers (moto in process).

    .venv/bin/python -m infra.bench.requests_per_message [N]

One message = the API call, the sender, and the sent/delivered/read webhooks with their
status-function runs. SQS receive/delete are made by Lambda's pollers in AWS (not billed
to us per request in the same way) and by the local poller here, so they are listed apart.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

from infra.local.stack import LocalStack  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def main(n: int = 50) -> None:
    stack = LocalStack().start(serve=False)
    key = {"authorization": f"Bearer {stack.dev_tenant['api_key']}"}
    template = json.loads((ROOT / "events/api/create_template.json").read_text())
    assert stack.request("POST", "/v1/templates", body=template, headers=key)[0] == 201
    stack.drain()
    counts: Counter[str] = Counter()

    def count(event_name: str, **_: object) -> None:
        counts[event_name.split(".", 1)[1]] += 1

    for client in (stack.deps.store.table.client, stack.deps.queues.client):
        client.meta.events.register("before-call.*.*", count)
    stack.sqs.meta.events.register("before-call.*.*", lambda event_name, **_: counts.update([f"poller:{event_name.split('.', 1)[1]}"]))
    message = json.loads((ROOT / "events/api/create_message.json").read_text())
    for i in range(n):
        body = {**message, "to": f"+1415555{i:04d}"}
        assert stack.request("POST", "/v1/messages", body=body, headers={**key, "idempotency-key": f"k{i}"})[0] == 202
    stack.drain()
    ours = {k: v for k, v in counts.items() if not k.startswith("poller:")}
    print(f"{n} messages, each reaching read (sent, delivered, read webhooks)")
    for op, c in sorted(counts.items()):
        print(f"  {op:45s} {c:5d}  ({c / n:.2f} per message)")
    print(f"our own requests per message: {sum(ours.values()) / n:.2f}")
    stack.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
