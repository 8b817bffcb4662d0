"""Flows: one business event in, the right messages at the right minutes out. Pure planning.

A step's `at` is `"now"`, `{"before": "<data field>", "offset": "PT24H"}` or
`{"after": "<data field>", "offset": "P3D"}`. The anchor field holds an ISO 8601 date-time
(with an offset) or a typed `{"datetime", "timezone"}` value. An offset may instead name a data
field holding the duration, `{"field": "revisit_after"}`: each event then brings its own interval
(a cut comes back in P21D, a colouring in P42D).

Rules (docs/decisions.md):
- a timed step whose minute has passed is skipped, never sent late; one in the current minute goes now;
- quiet hours apply to timed steps (not to `now` confirmations, which answer the customer's own
  action) unless the step is `urgent`: a `before` reminder moves to the nearest allowed minute that
  is still before its anchor and not in the past, else it is skipped; an `after` step moves to the
  end of the quiet period;
- on a reschedule the timed steps are planned again from the new data, `now` steps are not repeated,
  and steps marked `"on": "reschedule"` (a change notice) run only then.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from datetime import timezone as dt_timezone
from typing import TYPE_CHECKING, Any, cast

from wa_notify.domain.moments import AHEAD_PROBLEM, MAX_AHEAD, valid_zone, zone_info
from wa_notify.domain.problems import ProblemList
from wa_notify.domain.rendering import parse_datetime

if TYPE_CHECKING:
    from wa_notify.models_templates import FlowRequest

# ASCII digits only (re.ASCII): `\d` would also take "P٢١D" (Arabic-Indic digits), which no other
# ISO 8601 reader accepts.
DURATION_RE = re.compile(r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$",
                         re.ASCII)
CLOCK_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
MAX_OFFSET = timedelta(days=366)
STEP_WHEN = ("trigger", "reschedule", "always")
EVENT_TYPE_MAX = 100  # an event's type, a flow's trigger and its cancel_on / reschedule_on entries
EVENT_TYPES_MAX = 20  # entries in cancel_on or in reschedule_on
FLOW_FIELDS = {"trigger", "cancel_on", "reschedule_on", "language", "default_language", "priority", "quiet_hours", "steps", "acknowledge",
               "description"}
ACK_ACTIONS = ("confirm", "cancel", "reschedule")  # the tap actions a flow may answer (`acknowledge`)
ACK_TEXT_MAX = 4096  # WhatsApp's limit for a text message's body
AT_SHAPE = 'must be "now", {"before": "<data field>", "offset": "PT24H"} or {"after": ..., "offset": ...}'
FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a data field a step names (its anchor, a field offset)
OFFSET_SHAPE = 'must be an ISO 8601 duration such as PT24H or P3D, or {"field": "<data field holding one>"}'


class PlanWrite(enum.Enum):
    """What became of an event's plan write (the store's answer, named here so the services that
    read it need not import the store)."""

    WRITTEN = "written"
    DUPLICATE = "duplicate"  # the same event was recorded meanwhile
    OVER_QUOTA = "over_quota"  # the daily quota would be exceeded
    STALE = "stale"  # an old plan's message changed since it was read: read again and retry


def parse_duration(text: Any) -> timedelta:
    """ISO 8601 duration with fixed-length units only (W, D, H, M, S); ValueError otherwise."""
    if not isinstance(text, str) or text in ("P", "PT") or text.endswith("T"):
        raise ValueError("must be an ISO 8601 duration such as PT24H, PT2H30M or P3D")
    # A Y or M designator before the T (or with no T): one scan of the date part (r"^P[^T]*\d+[YM]"
    # backtracked in the square of its length: "P" and 200,000 digits held the API for minutes).
    if text.startswith("P") and re.search(r"\d[YM]", text.partition("T")[0]):
        raise ValueError("years and months have no fixed length: use days (P30D)")
    match = DURATION_RE.match(text)
    if not match:
        raise ValueError("must be an ISO 8601 duration such as PT24H, PT2H30M or P3D")
    # Each part is bounded before int() and timedelta see it: "P10000000000000000000000000000D"
    # overflows timedelta (OverflowError, a 500) and 5,000 digits trip int()'s own limit; a part of
    # more than 9 digits (or above a year's seconds) cannot make a sum within a year anyway.
    digits = {k: v.lstrip("0") or "0" for k, v in match.groupdict().items() if v}
    if any(len(v) > 9 or int(v) > MAX_OFFSET.total_seconds() for v in digits.values()):
        raise ValueError("is longer than a year")
    value = timedelta(**{k: int(v) for k, v in digits.items()})
    if value > MAX_OFFSET:
        raise ValueError("is longer than a year")
    return value


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    timezone: str | None = None

    def contains(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # the window crosses midnight

    def window_around(self, moment: datetime) -> tuple[datetime, datetime]:
        """The quiet period containing `moment` (local, aware): its first and first-allowed-after minutes."""
        local = moment
        start = local.replace(hour=self.start.hour, minute=self.start.minute, second=0, microsecond=0)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if self.start > self.end:  # crosses midnight
            if local.time() >= self.start:
                end += timedelta(days=1)
            else:
                start -= timedelta(days=1)
        return start, end


@dataclass(frozen=True)
class Step:
    index: int
    template: str
    language: str  # "": the contact's locale picks it (domain/languages.py)
    at: str | dict[str, Any]
    urgent: bool = False
    when: str = "trigger"
    priority: str | None = None
    params: dict[str, str] = field(default_factory=dict)  # template variable -> data field
    button_params: dict[str, str] = field(default_factory=dict)  # button index -> data field

    @property
    def timed(self) -> bool:
        return self.at != "now"

    @property
    def timing(self) -> dict[str, Any] | None:
        """A timed step's {"before"|"after": field, "offset": duration}; None for "now"."""
        return self.at if isinstance(self.at, dict) else None

    @property
    def anchor_field(self) -> str | None:
        if self.timing is not None:
            return self.timing.get("before") or self.timing.get("after")
        return None

    @property
    def offset_field(self) -> str | None:
        """The data field holding this step's offset ({"field": ...}); None for a fixed one."""
        offset = (self.timing or {}).get("offset")
        return offset.get("field") if isinstance(offset, dict) else None


@dataclass(frozen=True)
class Flow:
    name: str
    trigger: str
    cancel_on: list[str]
    reschedule_on: list[str]
    steps: list[Step]
    priority: str = "normal"
    quiet_hours: QuietHours | None = None
    default_language: str | None = None  # for steps without a language whose contact's locale matches none
    acknowledge: dict[str, str] = field(default_factory=dict)  # tap action -> the text answering it


@dataclass(frozen=True)
class Planned:
    step: Step
    send_at: datetime | None  # None: now
    skipped: str | None = None
    moved_from: datetime | None = None


def validate_flow(name: str, body: FlowRequest, problems: ProblemList | None = None) -> Flow:
    """The rules that relate a flow's fields (its shape is the model's: models_templates.FlowRequest);
    template existence is checked by the caller (it needs the store). With `problems` given,
    problems are collected there (the caller raises) instead of raised here."""
    collecting = problems is not None
    problems = problems if problems is not None else ProblemList()
    trigger = body.trigger
    lists = {"cancel_on": body.cancel_on or [], "reschedule_on": body.reschedule_on or []}
    for key, value in lists.items():
        if trigger in value:
            problems.add(key, f"cannot contain the trigger {trigger!r}")
    if set(lists["cancel_on"]) & set(lists["reschedule_on"]):
        problems.add("reschedule_on", "an event type cannot both cancel and reschedule")
    quiet = None
    if body.quiet_hours is not None:
        q = body.quiet_hours
        quiet = QuietHours(_clock(q.start), _clock(q.end), q.timezone)
    steps: list[Step] = []
    for i, raw in enumerate(body.steps):
        path = f"steps[{i}]"
        if isinstance(raw.template, str):
            template, language = raw.template, body.language
        else:
            template, language = raw.template.name, raw.template.language or body.language
        at: str | dict[str, Any] = "now"
        if raw.at != "now":
            at = raw.at.model_dump(exclude_none=True)
            if len({"before", "after"} & set(at)) != 1 or set(at) - {"before", "after", "offset"}:
                problems.add(f"{path}.at", AT_SHAPE)
            else:
                anchor = at.get("before") or at.get("after")
                if not isinstance(anchor, str) or not FIELD_RE.fullmatch(anchor):
                    problems.add(f"{path}.at", "must name the data field holding the date-time")
                offset = at.get("offset", "PT0S")
                if isinstance(offset, dict):
                    named = offset.get("field")
                    if set(offset) != {"field"} or not isinstance(named, str) or not FIELD_RE.fullmatch(named):
                        problems.add(f"{path}.at.offset", OFFSET_SHAPE)
                elif isinstance(offset, str):
                    try:
                        parse_duration(offset)
                    except ValueError as exc:
                        problems.add(f"{path}.at.offset", str(exc))
                else:
                    problems.add(f"{path}.at.offset", OFFSET_SHAPE)
        if raw.on != "trigger" and not lists["reschedule_on"]:
            problems.add(f"{path}.on", "a reschedule step needs reschedule_on event types")
        steps.append(Step(index=i, template=template, language=language or "", at=at, urgent=raw.urgent, when=raw.on,
                          priority=raw.priority, params=dict(raw.params or {}), button_params=dict(raw.button_params or {})))
    if not collecting:
        problems.raise_if_any()
    return Flow(name=name, trigger=trigger, cancel_on=lists["cancel_on"], reschedule_on=lists["reschedule_on"],
                steps=steps, priority=body.priority, quiet_hours=quiet, default_language=body.default_language,
                acknowledge=body.acknowledge.model_dump(exclude_none=True) if body.acknowledge else {})


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def anchor_time(data: dict[str, Any], field_name: str, timezone: str | None) -> datetime:
    value = data.get(field_name)
    if value is None:
        raise ValueError("is required by the flow (a date-time the reminders are timed from)")
    if isinstance(value, dict):
        return parse_datetime(value.get("datetime"), value.get("timezone", timezone))
    return parse_datetime(value, timezone)


def recipient_zone(data: dict[str, Any], explicit: str | None, flow: Flow) -> str | None:
    """The recipient's time zone: the event's (or the contact's), the data's, a typed anchor's, the
    flow's quiet hours'; None when none names one (then carried_offset, else UTC)."""
    anchors = [data.get(s.anchor_field) for s in flow.steps if s.anchor_field]
    typed = [a.get("timezone") for a in anchors if isinstance(a, dict)]
    for candidate in (explicit, data.get("timezone"), *typed, flow.quiet_hours.timezone if flow.quiet_hours else None):
        if candidate and valid_zone(candidate):
            return candidate
    return None


def carried_offset(data: dict[str, Any], flow: Flow) -> tzinfo | None:
    """The UTC offset an ISO string anchor carries ("2030-01-01T10:00:00+08:00"): the recipient's
    zone when nothing names one (no event, data, typed anchor, contact or quiet-hours zone)."""
    for step in flow.steps:
        value = data.get(step.anchor_field) if step.anchor_field else None
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                continue
            if parsed.utcoffset() is not None:
                return dt_timezone(cast(timedelta, parsed.utcoffset()))
    return None


def step_offset(step: Step, data: dict[str, Any]) -> timedelta:
    """A timed step's offset: its fixed duration, or the duration the event's data field holds
    (ValueError saying what is wrong with that field's value)."""
    named = step.offset_field
    if named is None:
        return parse_duration((step.timing or {}).get("offset", "PT0S"))
    if data.get(named) is None:
        raise ValueError("is required by the flow (the ISO 8601 duration a step waits, such as P42D)")
    return parse_duration(data[named])


def plan(flow: Flow, data: dict[str, Any], now: datetime, *, reschedule: bool = False, timezone: str | None = None) -> list[Planned]:
    """When each step of the flow should go for this event; raises ValueError(field, reason) pairs via Invalid."""
    zone_name = recipient_zone(data, timezone, flow)
    zone: tzinfo = zone_info(zone_name) if zone_name else (carried_offset(data, flow) or UTC)
    problems = ProblemList()
    out: list[Planned] = []
    this_minute = now.replace(second=0, microsecond=0)
    for step in flow.steps:
        if reschedule:
            if step.when == "trigger" and not step.timed:
                continue
        elif step.when == "reschedule":
            continue
        if not step.timed:
            out.append(Planned(step, None))
            continue
        try:  # before the anchor, so one 422 names a bad offset field and a bad anchor together
            offset = step_offset(step, data)
        except ValueError as exc:
            if step.offset_field is None:
                raise  # a fixed offset was checked when the flow was stored
            named = f"data.{step.offset_field}"
            if not any(p.field == named for p in problems.items):
                problems.add(named, str(exc))
            offset = None
        field = f"data.{step.anchor_field}"
        try:
            # No zone known (event, contact, data, the anchor's own): a date-time without an offset
            # is refused as send_at is, not taken as UTC (10:00 in Taipei planned for 18:00 there).
            anchor = anchor_time(data, step.anchor_field or "", zone_name)
        except ValueError as exc:
            if not any(p.field == field for p in problems.items):  # once per field, however many steps use it
                problems.add(field, str(exc))
            continue
        if not now - MAX_OFFSET <= anchor <= now + MAX_AHEAD + MAX_OFFSET:
            # No step of any flow could be planned from it (offsets are at most MAX_OFFSET): a typo
            # such as year 9998 or 1900 is refused rather than cancelling a plan and planning nothing.
            if not any(p.field == field for p in problems.items):
                problems.add(field, f"is {anchor.date().isoformat()}: more than {MAX_OFFSET.days} days in the past or "
                                    f"{(MAX_AHEAD + MAX_OFFSET).days} days ahead, so no reminder could be planned from it")
            continue
        if offset is None:
            continue
        timing = step.timing or {}
        before = "before" in timing
        when = anchor - offset if before else anchor + offset
        original = when
        if when < this_minute:
            out.append(Planned(step, None, skipped="its time has passed"))
            continue
        if flow.quiet_hours and not step.urgent:
            local = when.astimezone(zone)
            if flow.quiet_hours.contains(local.time()):
                quiet_start, quiet_end = flow.quiet_hours.window_around(local)
                candidates = [quiet_end] if not before else [quiet_start - timedelta(minutes=1), quiet_end]
                allowed = [c for c in candidates if c >= this_minute and (not before or c < anchor)]
                if not allowed:
                    out.append(Planned(step, None, skipped="falls in quiet hours with no allowed time before it is due"))
                    continue
                when = min(allowed, key=lambda c: abs(c - local)).astimezone(UTC)
        if when > now + MAX_AHEAD:
            # Messages are planned at most a year ahead (as send_at is): the rest of the event still runs.
            out.append(Planned(step, None, skipped=f"its time {AHEAD_PROBLEM}: messages are planned at most {MAX_AHEAD.days} days ahead"))
            continue
        send_at = None if when < this_minute + timedelta(minutes=1) else when.astimezone(UTC)
        out.append(Planned(step, send_at, moved_from=original.astimezone(UTC) if when != original else None))
    problems.raise_if_any()
    return out
