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
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "wa-notify"
logger = Logger(service=SERVICE)


class OneLineProvider(AmazonCloudWatchEMFProvider):
    """Powertools' EMF provider whose flush line can carry one more metric directive: the
    invocation's first outcome count (per tenant, template and outcome) rides the line of the
    fleet-wide counts instead of a line of its own (an API request's two lines are one)."""

    extra: tuple[tuple[tuple[str, str], ...], int] | None = None

    def serialize_metric_set(self, *args: Any, **kwargs: Any) -> Any:
        out: dict[str, Any] = dict(super().serialize_metric_set(*args, **kwargs))
        extra, self.extra = self.extra, None
        if extra is not None:
            dimensions, n = extra
            out["_aws"]["CloudWatchMetrics"].insert(0, {"Namespace": out["_aws"]["CloudWatchMetrics"][0]["Namespace"],
                                                        "Dimensions": [[key for key, _ in dimensions]],
                                                        "Metrics": [{"Name": "Messages", "Unit": "Count"}]})
            out.update(dict(dimensions))
            out["Messages"] = [float(n)]
        return out


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

    def log_metrics(self, lambda_handler: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Powertools' log_metrics, with the invocation's outcome lines (record_outcome) written
        first: one per tenant, template and outcome, whatever the batch's size."""
        if lambda_handler is None:
            return functools.partial(self.log_metrics, **kwargs)

        @functools.wraps(lambda_handler)
        def handler(*args: Any, **kw: Any) -> Any:
            try:
                return lambda_handler(*args, **kw)
            finally:
                flush_outcomes(self.provider if isinstance(self.provider, OneLineProvider) else None)

        return super().log_metrics(handler, **kwargs)


_namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "WaNotify"
metrics = LockedMetrics(namespace=_namespace, service=SERVICE, provider=OneLineProvider(namespace=_namespace, service=SERVICE))


class LazyTracer:
    """`capture_lambda_handler` like Powertools' Tracer, which is created on the first sampled
    invocation: Lambda marks each invocation in _X_AMZN_TRACE_ID (Sampled=1 or 0). The API,
    the webhook and the stream's function are PassThrough and their callers (HTTP API, Meta,
    the stream) send no sampled header, so they never import the X-Ray SDK nor patch botocore
    and httpx (about half of a bare boto3 import, issue 19's cold start); the sender and the
    dispatcher build it the first time Lambda samples one of their invocations."""

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
                    if not self._enabled():
                        wrapped = handler
                    elif not sampled():
                        return handler(event, context)  # nothing to record: no SDK yet
                    else:
                        wrapped = self.tracer.capture_lambda_handler(handler, capture_response=capture_response)
                return wrapped(event, context)

            return traced

        return decorate


tracer = LazyTracer(service=SERVICE)


def sampled() -> bool:
    """Whether Lambda samples this invocation for X-Ray (its _X_AMZN_TRACE_ID says Sampled=1)."""
    return "Sampled=1" in os.environ.get("_X_AMZN_TRACE_ID", "")


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


_outcomes_lock = threading.Lock()
# Per dimension set: how many (Messages) and the latencies (SendLatency), until the invocation ends.
_outcome_counts: dict[tuple[tuple[str, str], ...], int] = {}
_latencies: dict[tuple[tuple[str, str], ...], list[float]] = {}


def record_outcome(tenant_id: str, template: str | None, outcome: str, *, code: int | None = None,
                   latency_ms: float | None = None, per_tenant: bool = True) -> None:
    """Count one message outcome fleet-wide (for alarms) and, with `per_tenant`, per
    tenant/template/outcome (for the dashboard); `latency_ms` is the time from acceptance to
    WhatsApp's yes. The per tenant counts are summed until the invocation ends
    (`metrics.log_metrics` flushes them): a batch of ten sends of one template is one EMF line,
    not ten. Intake passes per_tenant=False: one API invocation is one message, so its per
    tenant line would be a second EMF line a message (docs/decisions.md, issue 14's log budget)."""
    metrics.add_metric(name=FLEET_METRIC[outcome], unit="Count", value=1)
    if latency_ms is not None:
        metrics.add_metric(name="SendLatency", unit="Milliseconds", value=latency_ms)
    if not per_tenant or not _emf_enabled():
        return
    dimensions = {"service": "wa-notify", "tenant": tenant_id, "template": template or "free_form", "outcome": outcome}
    if code is not None:
        dimensions["error_code"] = str(code)
    with _outcomes_lock:
        key = tuple(dimensions.items())
        _outcome_counts[key] = _outcome_counts.get(key, 0) + 1
        if latency_ms is not None:
            _latencies.setdefault(tuple((k, v) for k, v in dimensions.items() if k != "outcome"), []).append(latency_ms)


def flush_outcomes(provider: OneLineProvider | None = None) -> None:
    """Write the summed outcome counts and the latencies, one EMF line per dimension set; the
    first count rides `provider`'s line (written next) when it has metrics to write."""
    with _outcomes_lock:
        counts, latencies = dict(_outcome_counts), dict(_latencies)
        _outcome_counts.clear()
        _latencies.clear()
    if not counts and not latencies:
        return
    if provider is not None and counts and provider.metric_set:
        first = next(iter(counts))
        provider.extra = (first, counts.pop(first))
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    def emit(dimensions: tuple[tuple[str, str], ...], name: str, unit: MetricUnit, values: list[float]) -> None:
        for start in range(0, len(values), 100):  # EMF takes at most 100 values per metric
            line = EphemeralMetrics(namespace=metrics.namespace)
            for key, dimension in dimensions:
                line.add_dimension(name=key, value=dimension)
            for value in values[start:start + 100]:
                line.add_metric(name=name, unit=unit, value=value)
            line.flush_metrics()

    for dimensions, n in counts.items():
        emit(dimensions, "Messages", MetricUnit.Count, [float(n)])
    for dimensions, values in latencies.items():
        emit(dimensions, "SendLatency", MetricUnit.Milliseconds, values)
