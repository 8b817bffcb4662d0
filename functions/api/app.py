"""HTTP API function: templates, messages, health. Thin: parse, call a use case, answer."""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from wa_notify.domain import jsonbody
from wa_notify.domain.problems import DomainError, Invalid, OverQuota, Unauthorized
from wa_notify.http import field_of, problem
from wa_notify.models import (
    ActivityReport,
    CampaignRequest,
    CampaignView,
    ContactRequest,
    ContactView,
    EventAccepted,
    EventRequest,
    FlowPage,
    MessageAccepted,
    MessageRequest,
    MessageView,
    NumbersView,
    Page,
    PreviewRequest,
    PreviewView,
    SettingsRequest,
    SettingsView,
    TemplatesReport,
    TemplateView,
    problem_responses,
)
from wa_notify.models_reading import TimelineItem
from wa_notify.models_templates import FlowRequest, TemplateRequest
from wa_notify.models_views import TemplateSyncView
from wa_notify.observability import logger, metrics, record_outcome, tracer
from wa_notify.services import contacts as contact_service
from wa_notify.services import flows as flow_service
from wa_notify.services import messages as message_service
from wa_notify.services import numbers as number_service
from wa_notify.services import settings as settings_service
from wa_notify.services import templates as template_service
from wa_notify.services.deps import get_deps
from wa_notify.services.tenants import authenticate

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

# Every JSON body is parsed by jsonbody.loads, once, whichever route reads it: nesting, integer
# length, NaN and lone surrogates are refused there with the field named, before any model sees them.
app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=jsonbody.loads)
PUBLIC_PATHS = ("/v1/health", "/v1/openapi.json", "/docs", "/dashboard")
PUBLIC_PREFIXES = ("/r/",)  # click tracking: a customer's browser follows a tracked link, with no key


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
MAX_BODY_BYTES = 256 * 1024
JSON_TYPE = re.compile(r"application/(?:[a-z0-9.!#$&^_-]+\+)?json")  # application/json and every application/*+json (RFC 6839)


# A 204 has no body: an explicit empty `content`, or Powertools documents a JSON `null` body
# from the handler's return type (the fuzzer, once it could create templates and flows, read
# every DELETE's empty answer as invalid JSON).
NO_CONTENT: OpenAPIResponse = {"description": "Deleted", "content": {}}
_docs_enabled = False


def enable_docs() -> None:
    """Swagger UI and the OpenAPI document, registered on their first request: building
    Powertools' OpenAPI models costs ~150 ms, which no other request should pay."""
    global _docs_enabled
    if not _docs_enabled:
        app.enable_swagger(path="/docs", title="wa-notify", version="1.0.0")
        _docs_enabled = True


def guard(event: dict[str, Any]) -> Response | None:
    """Authenticate and bound the body before routing, so request validation never runs for a
    caller without a key. The tenant comes from the key, never from the body or the path."""
    path = event.get("rawPath") or ""
    if path == "/docs":
        enable_docs()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if not is_public(path):
        try:
            tenant_id = authenticate(get_deps(), headers.get("authorization"))
        except DomainError as exc:
            return on_domain_error(exc)
        app.append_context(tenant_id=tenant_id)
        logger.append_keys(tenant_id=tenant_id)
    if len(event.get("body") or "") > MAX_BODY_BYTES:
        return problem(413, "Payload too large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    if event.get("body") and not is_public(path):
        content_type = (headers.get("content-type") or "application/json").split(";")[0].strip().lower()
        if not JSON_TYPE.fullmatch(content_type):
            return problem(415, "Unsupported media type", f"send the body as application/json, not {content_type}")
        # Powertools parses only a lower-case `application/json...`: show it that, whatever casing or
        # +json suffix the client used (the body is JSON either way), instead of its 500.
        event["headers"] = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
        event["headers"]["content-type"] = "application/json"
    if event.get("isBase64Encoded") and event.get("body"):
        try:
            event["body"] = base64.b64decode(event["body"]).decode("utf-8")
            event["isBase64Encoded"] = False
        except (ValueError, UnicodeDecodeError):
            return problem(400, "Malformed request", "the body is not UTF-8 JSON")
    return None


def tenant() -> str:
    return app.context["tenant_id"]


@app.exception_handler(DomainError)
def on_domain_error(exc: DomainError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if isinstance(exc, OverQuota):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return problem(exc.status, exc.title, exc.detail, [p.as_dict() for p in exc.problems], headers, getattr(exc, "extensions", None))


@app.exception_handler(RequestValidationError)
def on_validation_error(exc: RequestValidationError) -> Response:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "Malformed request", "the body is not valid JSON")
    if [(e.get("type"), tuple(e.get("loc", ()))) for e in errors] == [("missing", ("body",))]:
        # No body, or JSON `null`: nothing to validate (400, as before the bodies were models).
        return problem(400, "Malformed request", "a JSON body is required")
    # pydantic prefixes a validator's own ValueError with "Value error, ": the message is ours alone.
    listed = [{"field": field_of(e.get("loc", ())), "message": str(e.get("msg", "invalid")).removeprefix("Value error, ")} for e in errors]
    return problem(422, "Unprocessable request", f"{len(listed)} problem(s) with the request", listed)


@app.exception_handler(Exception)
def on_unexpected(exc: Exception) -> Response:
    # A bug or an AWS outage, never the client's input: say so in problem+json and log it.
    logger.exception("unhandled error")
    if type(exc).__module__.startswith("botocore"):
        # DynamoDB or SQS failed (an outage, a throttle): every change is all or nothing, so the
        # same request again is safe. 503 with Retry-After tells the platform exactly that.
        return problem(503, "Service unavailable", f"request {app.lambda_context.aws_request_id} could not reach our storage; "
                       "retry (with the same Idempotency-Key, for messages)", headers={"Retry-After": "1"})
    return problem(500, "Internal error", f"request {app.lambda_context.aws_request_id} failed; it was logged")


@app.not_found
def on_not_found(exc: Exception) -> Response:
    return problem(404, "Not found", f"no route {app.current_event.http_method} {app.current_event.path}")


@app.get("/v1/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/v1/templates", summary="Register a template (Meta's template-creation JSON)", responses={
    201: {"description": "Registered; PENDING until Meta's decision arrives"}, **problem_responses(400, 401, 409, 413, 415, 422, 502)})
def create_template(body: Annotated[TemplateRequest, Body()]) -> Response[TemplateView]:
    created = template_service.register(get_deps(), tenant(), body)
    return Response(201, "application/json", body=created)


@app.post("/v1/templates/sync", summary="Import every template of the tenant's WhatsApp Business Account(s) as Meta holds it",
          responses={200: {"description": "Counts, and the templates imported or updated"}, **problem_responses(401, 422, 502)})
def sync_templates(cursor: Annotated[str | None, Query(max_length=2000)] = None) -> TemplateSyncView:
    from wa_notify.services import template_sync

    return template_sync.sync(get_deps(), tenant(), cursor)


@app.get("/v1/templates", responses={200: {"description": "A page of templates"}, **problem_responses(401, 422)})
def list_templates(
    cursor: Annotated[str | None, Query()] = None, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> Page[TemplateView]:
    return template_service.list_all(get_deps(), tenant(), cursor, limit)


@app.get("/v1/templates/<name>", responses={200: {"description": "The template"}, **problem_responses(401, 404, 422)})
def get_template(name: str, language: Annotated[str | None, Query()] = None) -> TemplateView:
    return template_service.get(get_deps(), tenant(), name, language)


@app.delete("/v1/templates/<name>", responses={204: NO_CONTENT, **problem_responses(401, 404, 422)})
def delete_template(name: str, language: Annotated[str | None, Query()] = None) -> Response[None]:
    template_service.delete(get_deps(), tenant(), name, language)
    return Response(204)


@app.post("/v1/templates/<name>/preview", responses={200: {"description": "Rendered template and the exact Cloud API request"},
                                                     **problem_responses(400, 401, 404, 413, 415, 422)})
def preview_template(name: str, body: Annotated[PreviewRequest, Body()]) -> PreviewView:
    return template_service.preview(get_deps(), tenant(), name, body)


@app.post("/v1/messages", summary="Send a template message (or free-form text inside the 24 h window)", responses={
    202: {"description": "Accepted: queued or scheduled"}, **problem_responses(400, 401, 409, 413, 415, 422)})
def create_message(
    body: Annotated[MessageRequest, Body()],
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
) -> Response[MessageAccepted]:
    result, created = message_service.create(get_deps(), tenant(), body, idempotency_key)
    if created:
        record_outcome(tenant(), body.template.name if body.template else None, "accepted", per_tenant=False)
    else:
        metrics.add_metric(name="MessagesReplayed", unit="Count", value=1)
    return Response(202, "application/json", body=result)


@app.get("/v1/messages", summary="Read messages back, newest first: filter by to, status, template, flow_key, campaign, "
         "metadata.<key> (any combination) within since/until", responses={200: {"description": "A page of messages; a filtered "
         "page may hold fewer than `limit` (then `next` carries on)"}, **problem_responses(401, 422)})
def list_messages(
    to: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    template: Annotated[str | None, Query(max_length=512)] = None,
    flow_key: Annotated[str | None, Query(max_length=256)] = None,
    campaign: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO 8601, inclusive")] = None,
    until: Annotated[str | None, Query(max_length=40, description="ISO 8601, inclusive")] = None,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Page[MessageView]:
    from wa_notify.services import reading

    metadata = reading.metadata_filters(app.current_event.query_string_parameters)
    return reading.list_messages(get_deps(), tenant(), to=to, status=status, template=template, flow_key=flow_key, campaign=campaign,
                                 metadata=metadata, since=since, until=until, cursor=cursor, limit=limit)


@app.get("/v1/messages/<message_id>", responses={200: {"description": "The message and its status history"}, **problem_responses(401, 404, 422)})
def get_message(message_id: str) -> MessageView:
    return message_service.get(get_deps(), tenant(), message_id)


@app.delete("/v1/messages/<message_id>", responses={200: {"description": "Cancelled"}, **problem_responses(401, 404, 409, 422)})
def cancel_message(message_id: str) -> MessageView:
    return message_service.cancel(get_deps(), tenant(), message_id)


@app.post("/v1/campaigns", summary="Send one template to every opted-in contact of a segment, through the bulk lane",
          responses={202: {"description": "Accepted: planning"}, **problem_responses(400, 401, 409, 413, 415, 422, 429)})
def create_campaign(body: Annotated[CampaignRequest, Body()]) -> Response[CampaignView]:
    from wa_notify.services import campaigns

    result = campaigns.create(get_deps(), tenant(), body)
    metrics.add_metric(name="CampaignsAccepted", unit="Count", value=1)
    return Response(202, "application/json", body=result)


@app.get("/v1/campaigns", summary="Campaigns, newest first", responses={200: {"description": "A page of campaigns (each without "
         "its funnel: GET the campaign for it)"}, **problem_responses(401, 422)})
def list_campaigns(cursor: Annotated[str | None, Query(max_length=2048)] = None,
                   limit: Annotated[int, Query(ge=1, le=100)] = 50) -> Page[CampaignView]:
    from wa_notify.services import campaigns

    return campaigns.list_all(get_deps(), tenant(), cursor, limit)


@app.get("/v1/campaigns/<campaign_id>", responses={200: {"description": "The campaign and its progress"}, **problem_responses(401, 404)})
def get_campaign(campaign_id: str) -> CampaignView:
    from wa_notify.services import campaigns

    return campaigns.get(get_deps(), tenant(), campaign_id)


@app.delete("/v1/campaigns/<campaign_id>", summary="Stop a campaign: what has not left WhatsApp's way is cancelled",
            responses={200: {"description": "Cancelled"}, **problem_responses(401, 404, 409)})
def cancel_campaign(campaign_id: str) -> CampaignView:
    from wa_notify.services import campaigns

    return campaigns.cancel(get_deps(), tenant(), campaign_id)


@app.put("/v1/flows/<name>", summary="Create or replace a flow: trigger, cancel_on, reschedule_on, steps",
         responses={200: {"description": "Replaced"}, 201: {"description": "Created"}, **problem_responses(400, 401, 413, 415, 422)})
def put_flow(name: str, body: Annotated[FlowRequest, Body()]) -> Response[dict[str, Any]]:
    stored, created = flow_service.put(get_deps(), tenant(), name, body)
    return Response(201 if created else 200, "application/json", body=stored)


@app.get("/v1/flows", responses={200: {"description": "A page of flows"}, **problem_responses(401, 422)})
def list_flows(cursor: Annotated[str | None, Query()] = None, limit: Annotated[int, Query(ge=1, le=100)] = 50) -> FlowPage:
    return flow_service.list_all(get_deps(), tenant(), cursor, limit)


@app.get("/v1/flows/<name>", responses={200: {"description": "The flow"}, **problem_responses(401, 404)})
def get_flow(name: str) -> dict[str, Any]:
    return flow_service.get(get_deps(), tenant(), name)


@app.delete("/v1/flows/<name>", responses={204: NO_CONTENT, **problem_responses(401, 404)})
def delete_flow(name: str) -> Response[None]:
    flow_service.delete(get_deps(), tenant(), name)
    return Response(204)


@app.post("/v1/events", summary="A business event: runs, cancels or re-plans every flow it concerns",
          responses={202: {"description": "Planned messages, skipped steps, cancelled messages"},
                     **problem_responses(400, 401, 409, 413, 415, 422, 429)})
def post_event(
    body: Annotated[EventRequest, Body()],
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$",
                                                  description="the same key with the same body: the first answer, whatever came between; "
                                                              "with another body: 409")] = None,
) -> Response[EventAccepted]:
    result, planned = flow_service.handle_event(get_deps(), tenant(), body, idempotency_key)
    metrics.add_metric(name="EventsPlanned" if planned else "EventsReplayed", unit="Count", value=1)
    return Response(202, "application/json", body=result)


@app.put("/v1/contacts/<phone>", summary="Create or update a contact's profile",
         responses={200: {"description": "The contact"}, **problem_responses(400, 401, 413, 415, 422)})
def put_contact(phone: str, body: Annotated[ContactRequest, Body()]) -> ContactView:
    return contact_service.put(get_deps(), tenant(), phone, body)


@app.get("/v1/contacts/<phone>", responses={200: {"description": "The contact"}, **problem_responses(401, 404)})
def get_contact(phone: str) -> ContactView:
    return contact_service.get(get_deps(), tenant(), phone)


@app.get("/v1/contacts/<phone>/timeline", summary="One contact's inbound and outbound messages, newest first",
         responses={200: {"description": "A page of the timeline"}, **problem_responses(401, 422)})
def contact_timeline(
    phone: str, cursor: Annotated[str | None, Query(max_length=2048)] = None, limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Page[TimelineItem]:
    from wa_notify.services import reading

    return reading.timeline(get_deps(), tenant(), contact_service.phone_of(phone, missing=Invalid), cursor, limit)


@app.delete("/v1/contacts/<phone>", summary="Erase a contact (LGPD/GDPR): its pending messages cancelled, its data scrubbed",
            responses={204: NO_CONTENT, **problem_responses(401, 422)})
def erase_contact(phone: str) -> Response[None]:
    from wa_notify.services import erasure

    erasure.erase(get_deps(), tenant(), phone)
    return Response(204)


@app.get("/v1/contacts", responses={200: {"description": "A page of contacts"}, **problem_responses(401, 422)})
def list_contacts(
    tag: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Page[ContactView]:
    return contact_service.list_by_tag(get_deps(), tenant(), tag, cursor, limit)


@app.put("/v1/settings", summary="The tenant's own settings: callback URL (a secret is generated), value tiers",
         responses={200: {"description": "The settings, with the callback secret"}, **problem_responses(400, 401, 413, 415, 422)})
def put_settings(body: Annotated[SettingsRequest, Body()]) -> SettingsView:
    return settings_service.put(get_deps(), tenant(), body)


@app.get("/v1/settings", responses={200: {"description": "The settings"}, **problem_responses(401)})
def get_settings() -> SettingsView:
    return settings_service.get(get_deps(), tenant())


@app.get("/v1/numbers", summary="The tenant's WhatsApp numbers, with Meta's quality rating and messaging limit",
         responses={200: {"description": "The numbers, the default one first"}, **problem_responses(401, 502)})
def list_numbers() -> NumbersView:
    return number_service.list_numbers(get_deps(), tenant())


@app.get("/v1/analytics/templates", summary="Per template: sent, delivered, read, failed, replied, rates, median time to read",
         responses={200: {"description": "One row per template over the UTC days [from, to]"}, **problem_responses(401, 422)})
def analytics_templates(
    from_: Annotated[str | None, Query(alias="from", max_length=10, description="first UTC day, e.g. 2026-11-01 (default: 29 days before `to`, so 30 days)")] = None,
    to: Annotated[str | None, Query(max_length=10, description="last UTC day, inclusive (default: today)")] = None,
) -> TemplatesReport:
    from wa_notify.services import analytics

    return analytics.templates_report(get_deps(), tenant(), from_, to)


@app.get("/v1/analytics/activity", summary="Inbound messages by weekday x hour",
         responses={200: {"description": "A 7 x 24 matrix of counts, Monday first"}, **problem_responses(401, 422)})
def analytics_activity(
    from_: Annotated[str | None, Query(alias="from", max_length=10, description="first UTC day (default: 27 days before `to`, so 28 days: four whole weeks)")] = None,
    to: Annotated[str | None, Query(max_length=10, description="last UTC day, inclusive (default: today)")] = None,
    timezone: Annotated[str | None, Query(max_length=64, description="IANA zone for weekday and hour (default UTC)")] = None,
) -> ActivityReport:
    from wa_notify.services import analytics

    return analytics.activity_report(get_deps(), tenant(), from_, to, timezone)


_openapi_json: str | None = None


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi_document():  # noqa: ANN201 - a bare Response has no schema
    """The OpenAPI 3 document, generated from these routes and models (docs/openapi.json is the same, committed)."""
    global _openapi_json
    if _openapi_json is None:
        import json

        _openapi_json = json.dumps(json.loads(app.get_openapi_json_schema(title="wa-notify", version="1.0.0")), indent=2, sort_keys=True)
    return Response(200, "application/json", body=_openapi_json, headers={"Cache-Control": "public, max-age=300"})


@app.get("/r/<token>", summary="Follow a tracked link (click tracking; no key): 302 to the URL stored at send time",
         responses={302: {"description": "To the message's original URL; the click is recorded",
                          "headers": {"Location": {"description": "the original URL", "schema": {"type": "string"}}}},
                    **problem_responses(404)})
def follow_link(token: str):  # noqa: ANN201 - a redirect or a problem, no JSON schema
    from wa_notify.domain.clicks import is_link_preview, location_header
    from wa_notify.services import clicks

    try:
        # WhatsApp's link-preview fetch follows the link too: redirected, not counted as a click.
        url = clicks.follow(get_deps(), token, record=not is_link_preview(app.current_event.get_header_value("user-agent") or ""))
    except DomainError as exc:
        refused = on_domain_error(exc)
        refused.headers.update(LINK_HEADERS)
        return refused
    return Response(302, headers={"Location": location_header(url), **LINK_HEADERS})


LINK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@app.get("/dashboard", include_in_schema=False)
def dashboard():  # noqa: ANN201
    """The analytics page; it asks for the API key and calls the two routes above from the browser."""
    from wa_notify.dashboard import HEADERS, PAGE

    return Response(200, "text/html; charset=utf-8", body=PAGE, headers=HEADERS)


# clear_state: the tenant appended for one request must not be logged with the next caller's.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refused = guard(event)
    if refused is not None:
        return {"statusCode": refused.status_code, "headers": refused.headers, "body": refused.body}
    return app.resolve(event, context)
