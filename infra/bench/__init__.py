"""`make bench` and `make soak`: the local stack measured and shaken."""

from __future__ import annotations

import os


def quiet_local_env(log_level: str) -> None:
    """What the functions need from the environment locally, with metrics off and logs quiet.
    Call before anything imports Powertools, which reads these at import."""
    for name, value in (("POWERTOOLS_METRICS_DISABLED", "true"), ("POWERTOOLS_LOG_LEVEL", log_level), ("LOG_LEVEL", log_level),
                        ("POWERTOOLS_SERVICE_NAME", "wa-notify"), ("POWERTOOLS_METRICS_NAMESPACE", "WaNotify")):
        os.environ.setdefault(name, value)
