"""Settings every tier shares; set before any handler import (Powertools reads them at import)."""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "wa-notify")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "WaNotify")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
    os.environ[key] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
