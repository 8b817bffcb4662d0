"""Powertools Logger, Metrics and Tracer, shared by every function.

Phone numbers never reach the logs: callers log `mask(e164)`. Tracer disables itself
outside Lambda; Metrics needs POWERTOOLS_METRICS_NAMESPACE (set in template.yaml and tests).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="wa-notify")
metrics = Metrics(namespace="WaNotify", service="wa-notify")
tracer = Tracer(service="wa-notify")
