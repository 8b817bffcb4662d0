"""`python -m infra.local --port 3000`: the whole wa-notify system on this machine."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading

from infra.local.stack import LocalStack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    stack = LocalStack(port=args.port, host=args.host).start()
    info = stack.info()
    print(f"wa-notify local stack on {info['base_url']}", flush=True)
    print(json.dumps(info, indent=2), flush=True)
    print(f"try: curl -s {info['base_url']}/_local/info", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
