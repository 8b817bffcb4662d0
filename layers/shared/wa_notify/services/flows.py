"""Flows (PUT/GET/DELETE) and business events (POST /v1/events): plan, cancel, re-plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from wa_notify.domain.conversation import billing, window_open
from wa_notify.domain.flows import FLOW_FIELDS, Flow, Planned, PlanWrite, plan, validate_flow
from wa_notify.domain.header_media import HEADER_PARAM, kind_of
from wa_notify.domain.ids import new_id
from wa_notify.domain.moments import MAX_AHEAD
from wa_notify.domain.phone import to_e164
from wa_notify.domain.problems import Conflict, Invalid, NotFound, Problem, ProblemList
from wa_notify.domain.records import EventResponse, EventRow, FlowRow, MessageRow, PlanRow, TemplateRow, TenantRow
from wa_notify.domain.rendering import render
from wa_notify.domain.template_buttons import URL_VARIABLE
from wa_notify.domain.templates import LANGUAGE_RE, NAME_RE, TemplateSpec
from wa_notify.models import EventAccepted, EventRequest, FlowPage
from wa_notify.models_templates import FlowRequest, parse_flow, spec_from_stored
from wa_notify.observability import logger
from wa_notify.services import clicks
from wa_notify.services import messages as message_service
from wa_notify.services import numbers as number_service
from wa_notify.services.deps import Deps, iso, page, readable
from wa_notify.services.templates import check_sendable, language_for
from wa_notify.services.tenants import profile as tenant_profile

EVENT_TTL_SECONDS = 7 * 86_400
MAX_MESSAGES_PER_EVENT = 60
MAX_ITEMS_PER_TRANSACTION = 100  # DynamoDB's TransactWriteItems limit
PLAN_WRITE_ATTEMPTS = 3


def _check_name(name: str) -> None:
    if len(name) > 128 or not NAME_RE.match(name):
        raise NotFound(f"no flow {name[:64]}")


def view(item: FlowRow) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("pk", "sk")}


def put(deps: Deps, tenant_id: str, name: str, body: FlowRequest) -> tuple[dict[str, Any], bool]:
    if len(name) > 128 or not NAME_RE.match(name):
        raise Invalid([Problem("name", "a flow name is 1-128 lowercase letters, digits and underscores")])
    # The rules that relate the fields, then the templates the steps name: one 422 lists them all.
    problems = ProblemList()
    flow = validate_flow(name, body, problems)
    for step in flow.steps:
        path = f"steps[{step.index}]"
        if not step.template:
            continue  # already reported
        if len(step.template) > 512 or not NAME_RE.match(step.template) or (step.language and not LANGUAGE_RE.match(step.language)):
            problems.add(f"{path}.template", f"no template {step.template[:64]} in language {step.language[:16]}")
            continue
        item = _checked_translation(deps, tenant_id, step.template, step.language, flow.default_language)
        if item is None:
            problems.add(f"{path}.template", f"no template {step.template}" + (f" in language {step.language}" if step.language else ""))
            continue
        spec = spec_from_stored(item)
        variables = {v.param for v in [*spec.header_variables, *spec.body_variables]} | media_header(spec)
        for var in step.params:
            if var not in variables:
                problems.add(f"{path}.params.{var}", f"template {step.template} has no variable {var!r}")
        url_buttons = {str(v.button_index) for v in spec.button_variables}
        for index in step.button_params:
            if index not in url_buttons:
                problems.add(f"{path}.button_params.{index}", f"template {step.template} has no URL button {index} with a variable")
        for button in spec.button_variables:
            if button.name == URL_VARIABLE and str(button.button_index) not in step.button_params:
                problems.add(f"{path}.button_params.{button.button_index}",
                             f"is required: the event data field that fills URL button {button.button_index} ({{{{1}}}}) of {step.template}")
    problems.raise_if_any()
    existing = deps.store.flows.get(tenant_id, name)
    if existing is not None and existing.get("deleted_at"):
        existing = None  # a deleted flow's name is free again; its old plans stay cancellable by key
    now = iso(deps.now())
    # The request's fields as given (FlowRow lists them), with the name and times.
    stored = cast("FlowRow", {**body.model_dump(mode="json", exclude_unset=True), "name": name,
                              "created_at": existing["created_at"] if existing else now, "updated_at": now})
    deps.store.flows.put(tenant_id, name, stored)
    return view(stored), existing is None


def get(deps: Deps, tenant_id: str, name: str) -> dict[str, Any]:
    _check_name(name)
    item = deps.store.flows.get(tenant_id, name)
    if item is None or item.get("deleted_at"):
        raise NotFound(f"no flow {name}")
    return view(item)


def list_all(deps: Deps, tenant_id: str, cursor: str | None, limit: int) -> FlowPage:
    def live() -> tuple[list[FlowRow], str | None]:
        items, nxt = deps.store.flows.list(tenant_id, limit=limit, cursor=cursor)
        return [i for i in items if not i.get("deleted_at")], nxt

    return FlowPage.model_validate(page(live, view))


def delete(deps: Deps, tenant_id: str, name: str) -> None:
    """Deleting a flow stops it triggering; what it already planned is not silently stranded:
    its cancel_on and reschedule_on events still cancel those messages by key."""
    _check_name(name)
    now = deps.now()
    # Nothing is planned more than MAX_AHEAD ahead, so after that no message of the flow is pending.
    if not deps.store.flows.delete(tenant_id, name, iso(now), int((now + MAX_AHEAD).timestamp()) + 86_400):
        raise NotFound(f"no flow {name}")


# ---- events ------------------------------------------------------------------------------------

def _load_flows(deps: Deps, tenant_id: str) -> tuple[list[Flow], list[Flow]]:
    """The live flows, and the deleted ones (whose cancel_on/reschedule_on still cancel by key)."""
    live: list[Flow] = []
    deleted: list[Flow] = []
    cursor = None
    while True:
        items, cursor = deps.store.flows.list(tenant_id, limit=100, cursor=cursor)
        for item in items:
            # A stored flow that no longer validates is skipped (logged), not every event of the tenant refused.
            parsed = readable([item], lambda i: parse_flow(i["name"], {k: v for k, v in i.items() if k in FLOW_FIELDS}))
            (deleted if item.get("deleted_at") else live).extend(parsed)
        if not cursor:
            return live, deleted


def event_hash_of(body: EventRequest) -> str:
    """The event record's key: the hash of the request without its null fields (as stored since events were recorded)."""
    return message_service.canonical_hash(body.model_dump(exclude_none=True))


def handle_event(deps: Deps, tenant_id: str, body: EventRequest, idempotency_key: str | None = None) -> tuple[EventAccepted, bool]:
    """Run every flow the event triggers, cancels or reschedules.

    With an Idempotency-Key: the same key and body are answered from the first request, whatever
    came between (a platform's late retry never plans again); the key with another body is a
    409. Without one, the same body twice in a row (a retry) is answered the same and planned
    once, and the same body again after another event for its key (a second cancel after a move,
    a booking again after its cancel) is a new event and applies."""
    body_hash = event_hash_of(body)
    event_hash = "KEY#" + message_service.canonical_hash({"idempotency_key": idempotency_key}) if idempotency_key else body_hash
    recorded = deps.store.flows.get_event(tenant_id, event_hash)
    now = deps.now()
    supersedes = None
    if recorded and recorded.get("expires_at", 0) >= int(now.timestamp()):
        if idempotency_key is not None:
            if recorded.get("body_hash") != body_hash:
                raise Conflict("this Idempotency-Key was used with another event body")
            return EventAccepted.model_validate(recorded["response"]), False
        if not _changed_since(deps.store.flows.plans_for_key(tenant_id, body.key), event_hash, recorded):
            return EventAccepted.model_validate(recorded["response"]), False
        supersedes = recorded.get("created_at")
    try:
        to = to_e164(body.to)
    except ValueError as exc:
        raise Invalid([Problem("to", str(exc))]) from exc
    event_type, key, data = body.type, body.key, body.data
    flows, deleted = _load_flows(deps, tenant_id)
    triggered = [(f, False) for f in flows if f.trigger == event_type] + [(f, True) for f in flows if event_type in f.reschedule_on]
    stopping = [f for f in [*flows, *deleted] if event_type in f.cancel_on or event_type in f.reschedule_on]

    # Plan and render everything first: bad data answers 422 before anything is cancelled or written.
    tenant = tenant_profile(deps, tenant_id)
    if body.from_ is not None:  # the number the event's messages go from (default: the tenant's)
        tenant = {**tenant, "phone_number_id": number_service.sender(deps, tenant_id, tenant, body.from_)}
    contact = deps.store.contacts.get(tenant_id, to) or {}
    timezone = body.timezone or contact.get("timezone")
    reasons: dict[tuple[str, int], str] = {}
    problems = ProblemList()
    items: list[MessageRow] = []
    skipped: list[dict[str, Any]] = []
    plans: dict[str, PlanRow] = {}
    templates: dict[tuple[str, str], TemplateRow] = {}
    for flow, reschedule in triggered:
        try:
            planned = plan(flow, data, now, reschedule=reschedule, timezone=timezone)
        except Invalid as exc:
            problems.items.extend(exc.problems)
            continue
        ids = []
        for p in planned:
            if not p.step.language and not p.skipped:  # the contact's locale picks the translation
                try:
                    language, reasons[(flow.name, p.step.index)] = language_for(
                        deps, tenant_id, p.step.template, contact.get("locale"), default=flow.default_language, default_from="flow",
                        field=f"flow.{flow.name}.steps[{p.step.index}].template")
                except Invalid as exc:
                    problems.items.extend(exc.problems)
                    continue
                p = replace(p, step=replace(p.step, language=language))
            if p.skipped:
                skipped.append({"flow": flow.name, "step": p.step.index, "template": p.step.template, "reason": p.skipped})
                continue
            if contact.get("opted_out") and _category(deps, tenant_id, p.step, templates) == "MARKETING":
                skipped.append({"flow": flow.name, "step": p.step.index, "template": p.step.template, "reason": "the contact opted out of marketing"})
                continue
            item = _message_for(deps, tenant_id, tenant, flow, p, to, key, event_type, data, templates, problems, now)
            if item is not None:
                # What Meta will charge, as on direct messages: the window as it will be at the step's minute
                item["billing"] = billing("template", (item["template"] or {}).get("category"),
                                          window_open(contact.get("window_expires_at"), p.send_at or now))
                assert item["template"] is not None  # a flow's messages are template messages
                item["template"]["language_reason"] = reasons.get((flow.name, p.step.index), "given by the flow")
                items.append(item)
                ids.append(item["id"])
        plans[flow.name] = {"message_ids": ids, "event_type": event_type, "updated_at": iso(now)}
    problems.raise_if_any()
    if len(items) > MAX_MESSAGES_PER_EVENT:
        raise Invalid([Problem("type", f"the event would plan {len(items)} messages; at most {MAX_MESSAGES_PER_EVENT}")])

    day, limit = message_service.check_quota(deps, tenant_id, tenant, now, len(items))
    stopping_names = {flow.name for flow in stopping}
    starting_names = {flow.name for flow, reschedule in triggered if not reschedule} - stopping_names
    for flow in stopping:
        plans.setdefault(flow.name, {"message_ids": [], "event_type": event_type, "updated_at": iso(now)})

    # The old plans' pending messages are cancelled in the same transaction that writes the new
    # plan: a reschedule leaves the old plan or the new one, never neither (issue 12). A message
    # that leaves scheduled/queued between the read and the write (the sender took it), or a plan
    # record another event changed meanwhile, fails the transaction whole; read again and retry.
    planned_view = [{"id": i["id"], "status": i["status"], "send_at": i["send_at"], "flow": i["flow"]["name"],
                     "step": i["flow"]["step"], "template": template["name"] if (template := i["template"]) else None} for i in items]
    for _ in range(PLAN_WRITE_ATTEMPTS):
        seen = {p["sk"]: p for p in deps.store.flows.plans_for_key(tenant_id, key)} if plans else {}
        old_ids = list(dict.fromkeys(m for name, p in seen.items() if name in stopping_names | starting_names
                                     for m in p.get("message_ids", [])))
        pending = deps.store.messages.pending_of(tenant_id, old_ids) if old_ids else []
        _refuse_a_second_plan(seen, starting_names, set(pending), key, event_type)
        stopping_ids = {m for name in stopping_names & seen.keys() for m in seen[name].get("message_ids", [])}
        cancelled = [m for m in pending if m in stopping_ids]
        if 2 + len(items) + len(plans) + len(cancelled) > MAX_ITEMS_PER_TRANSACTION:
            raise Invalid([Problem("key", f"the event would change {len(items) + len(cancelled)} messages of key {key[:64]} "
                                          f"at once; at most {MAX_ITEMS_PER_TRANSACTION - 2 - len(plans)}")])
        response: EventResponse = {"messages": planned_view, "skipped": skipped, "cancelled": cancelled}
        if not plans and not items:
            # No flow runs, cancels or re-plans on this event: nothing to write, and nothing to
            # answer later from a record (posted again once its flow exists, it plans).
            return EventAccepted.model_validate(response), True
        record: EventRow = {"type": event_type, "key": key, "response": response, "created_at": iso(now),
                  "expires_at": int(now.timestamp()) + EVENT_TTL_SECONDS, "body_hash": body_hash}
        written = deps.store.flows.write_plan(tenant_id, event_hash, record, items, plans, key, now_s=int(now.timestamp()),
                                              quota=(day, limit) if items else None, cancels=cancelled, at=iso(now),
                                              seen_plans=seen, supersedes=supersedes)
        if written is not PlanWrite.STALE:
            break
    if written is PlanWrite.OVER_QUOTA:
        raise message_service.over_quota(deps, tenant, now)
    if written is PlanWrite.DUPLICATE:
        recorded = deps.store.flows.get_event(tenant_id, event_hash)
        if recorded and idempotency_key is not None and recorded.get("body_hash") != body_hash:
            raise Conflict("this Idempotency-Key was used with another event body")
        if recorded:
            return EventAccepted.model_validate(recorded["response"]), False
        raise Conflict("the same event is being processed; retry")
    if written is PlanWrite.STALE:
        raise Conflict(f"the messages of key {key[:64]} kept changing while this event was applied; nothing changed, retry")
    message_service.enqueue(deps, items)
    logger.info("event planned", extra={"type": event_type, "planned": len(items), "skipped": len(skipped), "cancelled": len(cancelled)})
    return EventAccepted.model_validate(response), True


def _checked_translation(deps: Deps, tenant_id: str, name: str, language: str, default: str | None) -> TemplateRow | None:
    """The translation a step's params are checked against: its language's, else (a step whose
    contact's locale picks it) the flow's default_language's or the first one."""
    if language:
        return deps.store.templates.get(tenant_id, name, language)
    items = sorted(deps.store.templates.list(tenant_id, name=name, limit=100)[0], key=lambda i: i["language"])
    return next((i for i in items if i["language"] == default), items[0] if items else None)


def _changed_since(plans: list[PlanRow], event_hash: str, recorded: EventRow) -> bool:
    """Whether another event changed the key's plans after this one was applied: then the same
    body again is a new event (a cancel after a move must cancel what the move planned), not a
    retry to answer from the record."""
    at = str(recorded.get("created_at") or "")
    return any(p.get("event_hash") != event_hash and str(p.get("updated_at") or "") >= at for p in plans)


def _refuse_a_second_plan(seen: dict[str, PlanRow], starting: set[str], pending: set[str], key: str, event_type: str) -> None:
    """A trigger for a key whose plan in that flow still has messages to send is another booking
    under the same key, not a repeat (a repeat has the same body and is answered from the event
    record): planning it too would send the customer everything twice."""
    for name in sorted(starting):
        plan_row = seen.get(name)
        waiting = [m for m in ((plan_row.get("message_ids") if plan_row else None) or []) if m in pending]
        if waiting:
            raise Conflict(f"key {key[:64]} already has {len(waiting)} message(s) waiting in flow {name}, planned by another "
                           f"{event_type} event; send one of the flow's reschedule_on events to change them, or a cancel_on "
                           "event first")


def media_header(spec: TemplateSpec) -> set[str]:
    """{"header"} when the template's header is media or a location: an event's data field
    (`header` unless the step maps another) carries it, as `params.header` does for a message."""
    return {HEADER_PARAM} if kind_of(spec.header_format) else set()


def _template(deps: Deps, tenant_id: str, step: Any, templates: dict[tuple[str, str], TemplateRow]) -> TemplateRow | None:
    """The step's template, read once per event however many steps and flows use it."""
    ref = (step.template, step.language)
    if ref not in templates:
        item = deps.store.templates.get(tenant_id, *ref)
        if item is None:
            return None
        templates[ref] = item
    return templates[ref]


def _category(deps: Deps, tenant_id: str, step: Any, templates: dict[tuple[str, str], TemplateRow]) -> str | None:
    item = _template(deps, tenant_id, step, templates)
    return item["category"] if item else None


def _message_for(
    deps: Deps, tenant_id: str, tenant: TenantRow, flow: Flow, p: Planned, to: str, key: str, event_type: str,
    data: dict[str, Any], templates: dict[tuple[str, str], TemplateRow], problems: ProblemList, now: datetime,
) -> MessageRow | None:
    step = p.step
    template_item = _template(deps, tenant_id, step, templates)
    if template_item is None:
        problems.add(f"flow.{flow.name}.steps[{step.index}]", f"template {step.template} ({step.language}) was deleted")
        return None
    try:
        check_sendable(template_item)  # APPROVED (not PAUSED, DISABLED...) and in a form we can send
    except Conflict as exc:
        raise Conflict(f"flow {flow.name}: {exc.detail}") from None
    spec = spec_from_stored(template_item)
    params, field_of = {}, {}
    for name in [*(v.param for v in [*spec.header_variables, *spec.body_variables]), *media_header(spec)]:
        source = step.params.get(name, name)
        field_of[name] = source
        if source not in data:
            problems.add(f"data.{source}", f"is required by template {step.template} (flow {flow.name}, step {step.index})")
        else:
            params[name] = data[source]
    button_params = {}
    for var in spec.button_variables:
        source = step.button_params.get(str(var.button_index), var.name)
        if source not in data:
            problems.add(f"data.{source}", f"is required by the URL button of template {step.template} (flow {flow.name})")
        else:
            button_params[str(var.button_index)] = data[source]
    if len(params) < len(field_of) or len(button_params) < len(spec.button_variables):
        return None
    message_id = new_id("msg")
    try:
        rendered = render(spec, params, button_params, to=to, callback_data=message_id)
    except Invalid as exc:
        for problem in exc.problems:
            name = problem.field.split(".", 1)[-1]  # the template variable the problem names (header.image.link: within it)
            head, _, inside = name.partition(".")
            problems.add(f"data.{field_of.get(head, head)}" + (f".{inside}" if inside else ""), problem.message)
        return None
    return message_service.build_item(
        deps, tenant_id, message_id=message_id, to=to,
        request=clicks.apply(deps, tenant_id, message_id, rendered.request, template_item.get("click_targets")),
        template_ref={"name": step.template, "language": step.language, "category": template_item["category"]},
        priority=step.priority or flow.priority, send_at=p.send_at, metadata=None, now=now, phone_number_id=tenant["phone_number_id"],
        extra={"flow": {"name": flow.name, "step": step.index, "key": key, "event": event_type,
                        "moved_from": iso(p.moved_from) if p.moved_from else None}},
    )


def cancel_key(deps: Deps, tenant_id: str, key: str, cause: str | None = None, *, resumed: bool = False) -> list[str]:
    """Cancel what is still pending for a key in every flow (a customer tapped "Cancel"), together
    (one transaction per 100 messages): a failure changes nothing, and a retry does it all.
    `cause` (the reply's wamid) is kept on each message, so a webhook `resumed` after a failure
    past this point reports the messages its first delivery cancelled too."""
    old_ids = list(dict.fromkeys(m for p in deps.store.flows.plans_for_key(tenant_id, key) for m in p.get("message_ids", [])))
    for _ in range(PLAN_WRITE_ATTEMPTS):
        pending = deps.store.messages.pending_of(tenant_id, old_ids) if old_ids else []
        if deps.store.messages.cancel_many(tenant_id, pending, iso(deps.now()), "customer", cause):
            if resumed and cause and old_ids:
                earlier = deps.store.messages.cancelled_by(tenant_id, [m for m in old_ids if m not in pending], cause)
                return [m for m in old_ids if m in set(pending) | set(earlier)]
            return pending
    raise Conflict(f"the messages of key {key[:64]} kept changing; retry")
