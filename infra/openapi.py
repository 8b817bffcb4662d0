"""Write docs/openapi.json from the api function's routes and models: `make openapi`."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "openapi.json"


def generate() -> str:
    from functions.api.app import app

    spec = json.loads(app.get_openapi_json_schema(title="wa-notify", version="1.0.0"))
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    TARGET.write_text(generate())
    print(f"wrote {TARGET.relative_to(ROOT)}")
