"""Powertools Logger, Metrics and Tracer, shared by every function.

Phone numbers never reach the logs: callers log `mask(e164)`. The service name and the
metrics namespace are the template's POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE,
read by Powertools itself when these objects are built (the library reads its own settings at
construction; ours are read lazily in config.py); the defaults only serve a bare import.

The Tracer is built on the first invocation, not at import: Powertools' Tracer imports the
X-Ray SDK, which imports all of botocore (about 300 ms, as much as boto3 itself). Lazily,
a cold start pays it once inside the first request rather than in every module import, and
functions that never call AWS before answering (health, a rejected webhook) pay nothing.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "wa-notify"
logger = Logger(service=SERVICE)


class LockedMetrics(Metrics):
    """Powertools' Metrics, added to one at a time: the sender handles a batch's records on
    several threads (wa_notify.batch), and Powertools' add_metric reads, appends and stores
    the metric's values unlocked (two threads adding one name at once could lose a value)."""

    _lock = threading.Lock()

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            super().add_metric(*args, **kwargs)

    def flush_metrics(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            super().flush_metrics(*args, **kwargs)


metrics = LockedMetrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "WaNotify", service=SERVICE)


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


tracer = LazyTracer(service=SERVICE)


# ---- per tenant, template and outcome ---------------------------------------------------------
# `metrics` above carries one dimension set per flush (service): the fleet-wide counts the
# alarms use. These go out as one EMF line each, with their own dimensions, so a dashboard
# can split by tenant and template. Cardinality (and CloudWatch's bill) is tenants x templates
# x outcomes, plus error codes for failures: bounded by what platforms register.
OUTCOMES = ("accepted", "sent", "delivered", "read", "failed", "fallback_sms")
FLEET_METRIC = {"accepted": "MessagesAccepted", "sent": "MessagesSent", "delivered": "MessagesDelivered", "read": "MessagesRead",
                "failed": "MessagesFailed", "fallback_sms": "MessagesFallbackSms"}


def _emf_enabled() -> bool:
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    return not is_metrics_disabled()


def record_outcome(tenant_id: str, template: str | None, outcome: str, *, code: int | None = None,
                   latency_ms: float | None = None) -> None:
    """Count one message outcome fleet-wide (for alarms) and per tenant/template/outcome
    (for the dashboard); `latency_ms` is the time from acceptance to WhatsApp's yes."""
    metrics.add_metric(name=FLEET_METRIC[outcome], unit="Count", value=1)
    if latency_ms is not None:
        metrics.add_metric(name="SendLatency", unit="Milliseconds", value=latency_ms)
    if not _emf_enabled():
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    dimensions = {"service": "wa-notify", "tenant": tenant_id, "template": template or "free_form", "outcome": outcome}
    if code is not None:
        dimensions["error_code"] = str(code)
    with single_metric(name="Messages", unit=MetricUnit.Count, value=1, namespace=metrics.namespace, default_dimensions=dimensions):
        pass
    if latency_ms is not None:
        latency_dims = {k: v for k, v in dimensions.items() if k != "outcome"}
        with single_metric(name="SendLatency", unit=MetricUnit.Milliseconds, value=latency_ms, namespace=metrics.namespace,
                           default_dimensions=latency_dims):
            pass
