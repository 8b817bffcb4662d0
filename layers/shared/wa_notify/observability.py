"""Powertools Logger, Metrics and Tracer, shared by every function.

Phone numbers never reach the logs: callers log `mask(e164)`. Metrics needs
POWERTOOLS_METRICS_NAMESPACE (set in template.yaml and tests).

The Tracer is built on the first invocation, not at import: Powertools' Tracer imports the
X-Ray SDK, which imports all of botocore (about 300 ms, as much as boto3 itself). Lazily,
a cold start pays it once inside the first request rather than in every module import, and
functions that never call AWS before answering (health, a rejected webhook) pay nothing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="wa-notify")
metrics = Metrics(namespace="WaNotify", service="wa-notify")


class LazyTracer:
    """`capture_lambda_handler` like Powertools' Tracer, which is created on the first call."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._tracer: Any = None

    def _enabled(self) -> bool:
        return os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() not in ("1", "true") and "AWS_LAMBDA_FUNCTION_NAME" in os.environ

    @property
    def tracer(self) -> Any:
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer(service=self.service)
        return self._tracer

    def capture_lambda_handler(self, *, capture_response: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
            wrapped: Callable[..., Any] | None = None

            @functools.wraps(handler)
            def traced(event: Any, context: Any) -> Any:
                nonlocal wrapped
                if wrapped is None:
                    wrapped = self.tracer.capture_lambda_handler(handler, capture_response=capture_response) if self._enabled() else handler
                return wrapped(event, context)

            return traced

        return decorate


tracer = LazyTracer(service="wa-notify")
