"""A sandbox WhatsApp Cloud API: Meta's request/response and webhook formats, limits and faults.

It answers `POST /{version}/{phone_number_id}/messages` and
`POST /{version}/{waba_id}/message_templates` like the Graph API, enforces the per-number
throughput (130429) and the per-recipient pair limit (131056), reviews templates by
Meta's rules, and sends signed webhooks (ASCII-escaped JSON, X-Hub-Signature-256 over
the exact bytes) for template decisions, message statuses and inbound messages.

`handle()` is transport-free so the same sandbox serves real HTTP in the local stack and
an httpx.MockTransport in functional tests.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wa_notify.domain import signatures
from wa_notify.domain.header_media import kind_of, parameter_mismatch
from wa_notify.domain.problems import Invalid
from wa_notify.domain.ratelimit import Rate, decide
from wa_notify.domain.templates import PLACEHOLDER_RE
from wa_notify.models_templates import spec_from_stored, validate_template

Deliver = Callable[[bytes, dict[str, str]], int]

ERRORS = {
    0: "AuthException",
    100: "Invalid parameter",
    190: "Access token has expired",
    130429: "Rate limit hit",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    131000: "Something went wrong",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    132012: "Parameter format does not match format in the created template",
    132015: "Template is Paused",
    132016: "Template is Disabled",
    132018: "There was an issue with the parameters in your template.",
    # The rest of the reference's table (whatsapp-cloud-api.md §2), so a refusal never reads "Error".
    10: "Permission denied",
    368: "Temporarily blocked for policy violations",
    131005: "Access denied",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131021: "Recipient cannot be sender",
    131031: "Account has been locked",
    131042: "Business eligibility payment issue",
    131048: "Spam rate limit hit",
    131050: "Unable to deliver message. The user has chosen to stop receiving marketing messages.",
    131051: "Unsupported message type",
    131052: "Media download error",
    131053: "Media upload error",
    131057: "Account in maintenance mode",
    132005: "Template Hydrated Text Too Long",
    132007: "Template Format Character Policy Violated",
    132068: "Flow is in blocked state",
    132069: "Flow is in throttled state",
    133004: "Server Temporarily Unavailable",
    133010: "Phone number Not Registered",
}
# Meta's `error_data.details` for the codes a failed status webhook carries (whatsapp-cloud-api.md §4.4).
FAILED_DETAILS = {
    131026: "Message Undeliverable.",
    131047: "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    131049: "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
}
MARKETING_LIMITED = 131049
COMPONENT_TYPES = ("header", "body", "button")
NAME_BLOCKED_SECONDS = 30 * 24 * 3600  # an approved template's name after its deletion (reference §5.1)
PARAMETER_MAX = {"header": 60, "body": 1024}  # a text parameter's value (reference §1.2)
AUTHENTICATION_PARAMETER_MAX = 15  # the code, in the body and in the OTP button
COUPON_CODE_MAX = 15
BODY_RENDERED_MAX = 1024  # 132005 beyond it
# A button component's sub_type and the template button types it may fill.
BUTTON_SUB_TYPES = {"quick_reply": ("QUICK_REPLY",), "url": ("URL", "OTP"), "copy_code": ("COPY_CODE",), "flow": ("FLOW",),
                    "catalog": ("CATALOG",), "mpm": ("MPM",), "voice_call": ("VOICE_CALL",)}
# What a percent-encoded URL suffix may hold (RFC 3986 unreserved, reserved and "%").
URL_SUFFIX_RE = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*")
# What a body or header parameter may be (Meta still takes the older localizable currency and date_time).
TEXT_PARAMETER_TYPES = {"header": ("text",), "body": ("text", "currency", "date_time")}


def wamid() -> str:
    return "wamid." + base64.b64encode(b"\x15\x02\x00\x11\x18\x12" + secrets.token_bytes(18)).decode()


@dataclass
class Fault:
    """What the next matching send should suffer: an error (sync or async), or a lost answer."""

    code: int | None = None
    http_status: int = 400
    mode: str = "sync"  # sync | async | refuse | timeout_before | timeout_after | http_500
    count: int = 1
    to: str | None = None


@dataclass
class Sandbox:
    app_secret: str
    access_token: str
    deliver: Deliver | None = None  # posts a webhook to wa-notify, returns the HTTP status
    throughput_per_second: float = 80.0
    pair_interval_seconds: float = 6.0
    pair_burst: int = 45
    throttle_http_status: int = 400  # Meta's 130429/131056 HTTP status is disputed (400 or 429)
    status_delay_seconds: float = 0.05
    auto_status: bool = True
    template_decision: str = "APPROVED"
    numbers: dict[str, dict[str, str]] = field(default_factory=dict)  # pnid -> {waba_id, display}
    templates: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    deleted_names: dict[tuple[str, str], float] = field(default_factory=dict)  # (waba, name) -> when an approved one was deleted
    messages: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    inbound_at: dict[tuple[str, str], float] = field(default_factory=dict)  # (pnid, user) -> last inbound
    webhook_log: list[dict[str, Any]] = field(default_factory=list)
    _buckets: dict[str, int] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    synchronous_webhooks: bool = False  # tests: deliver inline instead of on a thread
    closed: bool = False  # the stack stopped: no more webhooks (close())
    _threads: list[threading.Thread] = field(default_factory=list)  # webhooks in flight
    clock: Callable[[], float] = time.monotonic  # the limits' time; tests drive it to refill the pair window
    # Per-user marketing limit (131049): at most this many MARKETING templates to one user per
    # window (outside an open customer-service window, which Meta does not count); None: off, as
    # Meta publishes no number (it adapts to each user's engagement) - docs/decisions.md.
    marketing_per_user_limit: int | None = None
    marketing_window_seconds: float = 24 * 3600.0
    _marketing_sent: dict[str, list[float]] = field(default_factory=dict)  # user -> clock() of each counted one

    # ---- setup ------------------------------------------------------------------------------
    def register_number(self, phone_number_id: str, waba_id: str, display: str = "15550000000", access_token: str | None = None) -> None:
        """A business number; with `access_token`, Meta accepts only that token for it and its WABA
        (a platform with its own system-user token), else the app's token."""
        with self._lock:
            self.numbers[phone_number_id] = {"waba_id": waba_id, "display": display, **({"token": access_token} if access_token else {})}

    def _expected_token(self, object_id: str) -> str:
        with self._lock:
            for pnid, number in self.numbers.items():
                if object_id in (pnid, number["waba_id"]) and number.get("token"):
                    return number["token"]
        return self.access_token

    def configure(self, config: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if "auto_status" in config:
                self.auto_status = bool(config["auto_status"])
            if "template_decision" in config:
                self.template_decision = str(config["template_decision"]).upper()
            if "throttle_http_status" in config:
                self.throttle_http_status = int(config["throttle_http_status"])
            if "throughput_per_second" in config:
                self.throughput_per_second = float(config["throughput_per_second"])
            if "pair_interval_seconds" in config:  # tests shorten the pair window (131056)
                self.pair_interval_seconds = float(config["pair_interval_seconds"])
            if "pair_burst" in config:
                self.pair_burst = int(config["pair_burst"])
            if "marketing_per_user_limit" in config:  # None turns it off
                limit = config["marketing_per_user_limit"]
                self.marketing_per_user_limit = None if limit is None else int(limit)
                self._marketing_sent.clear()
            if "marketing_window_seconds" in config:
                self.marketing_window_seconds = float(config["marketing_window_seconds"])
            for pnid, tiers in (config.get("numbers") or {}).items():
                if pnid in self.numbers:
                    self.set_number(pnid, **tiers)
            for fault in config.get("faults") or []:
                self.faults.append(Fault(**fault))
            if config.get("clear_faults"):
                self.faults.clear()
            return self.config()

    def config(self) -> dict[str, Any]:
        return {
            "auto_status": self.auto_status,
            "template_decision": self.template_decision,
            "throttle_http_status": self.throttle_http_status,
            "throughput_per_second": self.throughput_per_second,
            "pair_interval_seconds": self.pair_interval_seconds,
            "pair_burst": self.pair_burst,
            "marketing_per_user_limit": self.marketing_per_user_limit,
            "marketing_window_seconds": self.marketing_window_seconds,
            "faults": [f.__dict__ for f in self.faults],
        }

    # ---- the Graph API ----------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes, query: str = "") -> tuple[int, dict[str, Any]]:
        """One Graph API call: (HTTP status, JSON body); `query` is the URL's query string."""
        lower = {k.lower(): v for k, v in headers.items()}
        match = re.fullmatch(r"/?v[0-9.]+/([0-9]+)/(messages|message_templates)", path)
        number = re.fullmatch(r"/?v[0-9.]+/([0-9]+)", path) if method == "GET" else None
        expected = self._expected_token((match or number).group(1)) if match or number else self.access_token
        if lower.get("authorization") != f"Bearer {expected}":
            return 401, self._error(190, "Invalid OAuth access token - Cannot parse access token", None)
        if number:
            return self._describe_number(number.group(1))
        if method == "GET" and match and match.group(2) == "message_templates":
            from infra.local.sandbox_templates import list_templates

            return list_templates(self, match.group(1), query)
        if method == "DELETE" and match and match.group(2) == "message_templates":
            return self._delete_template(match.group(1), query)
        if method != "POST" or not match:
            return 400, self._error(100, f"Unsupported {method} request.", None)
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return 400, self._error(100, "Invalid JSON", None)
        object_id, edge = match.groups()
        if edge == "message_templates":
            return self._create_template(object_id, payload)
        return self._send(object_id, payload)

    def _describe_number(self, pnid: str) -> tuple[int, dict[str, Any]]:
        """GET /{phone-number-id}: Meta's fields of a business number (every one we know; the
        query's `fields` is not seen here)."""
        with self._lock:
            number = self.numbers.get(pnid)
            if number is None:
                return 400, self._error(100, f"Unsupported get request. Object with ID '{pnid}' does not exist", None)
            tier = number.get("messaging_limit_tier", "TIER_UNLIMITED")
            return 200, {"id": pnid, "display_phone_number": "+" + number["display"], "verified_name": "wa-notify sandbox",
                         "quality_rating": number.get("quality_rating", "GREEN"), "messaging_limit_tier": tier,
                         "whatsapp_business_manager_messaging_limit": tier,
                         "throughput": {"level": "HIGH" if self.throughput_per_second >= 1000 else "STANDARD"}}

    def set_number(self, pnid: str, *, quality_rating: str | None = None, messaging_limit_tier: str | None = None) -> None:
        """A number's quality rating and messaging limit tier, as Meta would report them."""
        with self._lock:
            if quality_rating is not None:
                self.numbers[pnid]["quality_rating"] = quality_rating
            if messaging_limit_tier is not None:
                self.numbers[pnid]["messaging_limit_tier"] = messaging_limit_tier

    def _error(self, code: int, message: str | None, details: str | None) -> dict[str, Any]:
        title = message or ERRORS.get(code, "Error")
        # Graph's own authentication errors (190) carry no "(#code)" prefix; the Cloud API's do.
        err: dict[str, Any] = {"message": title if code == 190 else f"(#{code}) {title}", "type": "OAuthException", "code": code,
                               "fbtrace_id": secrets.token_urlsafe(12)}
        if details:
            err["error_data"] = {"messaging_product": "whatsapp", "details": details}
        return {"error": err}

    def _delete_template(self, waba_id: str, query: str) -> tuple[int, dict[str, Any]]:
        """DELETE /{waba}/message_templates?name=...[&hsm_id=...]: every translation of the name, or
        the one with that id; 100 when the WABA holds none (Meta's "not found")."""
        from urllib.parse import parse_qs

        asked = {k: v[-1] for k, v in parse_qs(query).items()}
        name, hsm_id = asked.get("name", ""), asked.get("hsm_id")
        if not name:
            return 400, self._error(100, "Invalid parameter", "name is required")
        with self._lock:
            doomed = [k for k, t in self.templates.items() if k[0] == waba_id and k[1] == name and (not hsm_id or str(t.get("id")) == hsm_id)]
            if not doomed:
                return 400, self._error(100, "Invalid parameter", f"Message template {name!r} not found")
            if any(self.templates[k]["status"] == "DISABLED" for k in doomed):  # reference §5.1
                return 400, self._error(100, "Invalid parameter", "Disabled templates cannot be deleted")
            for k in doomed:
                if self.templates[k]["status"] == "APPROVED":
                    self.deleted_names[(waba_id, name)] = self.clock()  # the name is blocked for 30 days (§5.1)
                del self.templates[k]
        return 200, {"success": True}

    def _create_template(self, waba_id: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if waba_id not in {n["waba_id"] for n in self.numbers.values()}:
            return 400, self._error(100, f"Unsupported post request. Object with ID '{waba_id}' does not exist", None)
        try:
            spec = validate_template(payload)
        except Invalid as exc:
            first = exc.problems[0]
            return 400, self._error(100, "Invalid parameter", f"{first.field}: {first.message}")
        with self._lock:
            key = (waba_id, spec.name, spec.language)
            deleted = self.deleted_names.get((waba_id, spec.name))
            if deleted is not None and self.clock() - deleted < NAME_BLOCKED_SECONDS:
                return 400, self._error(100, "Invalid parameter",
                                        f"Message template {spec.name!r} was deleted: its name cannot be used again for 30 days")
            if key in self.templates and self.templates[key]["status"] != "REJECTED":
                return 400, self._error(100, "Invalid parameter", f"Content in this language already exists for {spec.name}")
            template_id = str(10**15 + secrets.randbelow(9 * 10**15))
            decision = self.template_decision
            self.templates[key] = {"id": template_id, "status": decision, "category": spec.category,
                                   "parameter_format": spec.parameter_format, "components": spec.components,
                                   "name": spec.name, "language": spec.language}
        value: dict[str, Any] = {
            "event": decision,
            "message_template_id": int(template_id),
            "message_template_name": spec.name,
            "message_template_language": spec.language,
            "reason": "NONE" if decision == "APPROVED" else "INVALID_FORMAT",
            "message_template_category": spec.category,
        }
        if decision == "REJECTED":
            value["rejection_info"] = {"reason": "The sandbox was configured to reject templates.",
                                       "recommendation": "PUT /_local/sandbox/config {\"template_decision\": \"APPROVED\"}"}
        self._emit(waba_id, "message_template_status_update", value, entry_time=True)
        return 200, {"id": template_id, "status": "PENDING", "category": spec.category}

    def _take(self, key: str, rate: Rate) -> bool:
        now_us = int(self.clock() * 1_000_000)
        decision = decide(rate, self._buckets.get(key), now_us)
        if decision.allowed:
            self._buckets[key] = decision.new_tat_us
        return decision.allowed

    def _next_fault(self, to: str) -> Fault | None:
        for fault in self.faults:
            if fault.to is None or fault.to.lstrip("+") == to.lstrip("+"):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _send(self, pnid: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        number = self.numbers.get(pnid)
        if number is None:
            return 400, self._error(100, f"Unsupported post request. Object with ID '{pnid}' does not exist", None)
        if payload.get("messaging_product") != "whatsapp":
            return 400, self._error(100, "Invalid parameter", "messaging_product must be whatsapp")
        to = str(payload.get("to") or "")
        # Meta accepts "+", "-", parentheses and spaces in `to` (reference §1.1); the wa_id is the digits.
        if not re.fullmatch(r"\+?[0-9]{7,15}", re.sub(r"[ ()-]", "", to)):
            return 400, self._error(100, "Invalid parameter", "to is not a phone number")
        kind = payload.get("type")
        if kind not in ("template", "text") or not isinstance(payload.get(kind), dict):
            return 400, self._error(100, "Invalid parameter", f"type {kind!r} needs a {kind!r} object")
        user = re.sub(r"[ ()+-]", "", to)
        with self._lock:
            fault = self._next_fault(to)
            if fault and fault.mode == "refuse":
                raise ConnectionRefusedError("sandbox: connection refused (the request never arrived)")
            if fault and fault.mode == "timeout_before":
                raise TimeoutError("sandbox: connection dropped before the request was read")
            if fault and fault.mode == "http_500":
                return 500, self._error(131000, None, "The sandbox was told to fail with HTTP 500.")
            if not self._take(f"pnid:{pnid}", Rate.per_second(self.throughput_per_second, max(1, int(self.throughput_per_second)))):
                return self.throttle_http_status, self._error(130429, None, "Cloud API message throughput has been reached.")
            if not self._take(f"pair:{pnid}:{user}", Rate.every(self.pair_interval_seconds, self.pair_burst)):
                return self.throttle_http_status, self._error(
                    131056, None, "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.")
            if fault and fault.mode == "sync" and fault.code:
                return fault.http_status, self._error(fault.code, None, "The sandbox was told to fail this send.")
            text, category, problem = self._render(number["waba_id"], payload)
            if problem:
                return problem
            marketing_limited = category == "marketing" and self._marketing_limited(pnid, user)
            message_id = wamid()
            record = {"id": message_id, "phone_number_id": pnid, "to": user, "request": payload, "text": text,
                      "statuses": [], "category": category, "received_at": time.time()}
            self.messages.append(record)
        outcome: list[tuple[str, dict[str, Any] | None]]
        if fault and fault.mode == "async" and fault.code:
            outcome = [("failed", {"code": fault.code})]
        elif kind == "text" and not self._window_open(pnid, user):
            outcome = [("failed", {"code": 131047})]  # accepted, then failed by webhook, as Meta does
        elif marketing_limited:
            outcome = [("failed", {"code": MARKETING_LIMITED})]
        else:
            outcome = [("sent", None), ("delivered", None), ("read", None)]
        if self.auto_status:
            self._emit_statuses(record, outcome)
        if fault and fault.mode == "timeout_after":
            raise TimeoutError("sandbox: the request was accepted but the answer was lost")
        response: dict[str, Any] = {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": user}],
                                    "messages": [{"id": message_id}]}
        if kind == "template":
            response["messages"][0]["message_status"] = "accepted"
        return 200, response

    def _window_open(self, pnid: str, user: str) -> bool:
        """The user wrote to this number in the last 24 h (their customer-service window)."""
        return time.time() - self.inbound_at.get((pnid, user), 0) < 24 * 3600

    def _marketing_limited(self, pnid: str, user: str) -> bool:
        """Meta's per-user marketing limit (131049): counted per user across businesses, over the
        window; a marketing message inside an open customer-service window neither counts nor is
        refused. Called under the lock with a MARKETING template about to be accepted."""
        if self.marketing_per_user_limit is None or self._window_open(pnid, user):
            return False
        now = self.clock()
        recent = [t for t in self._marketing_sent.get(user, []) if now - t < self.marketing_window_seconds]
        if len(recent) >= self.marketing_per_user_limit:
            self._marketing_sent[user] = recent
            return True
        self._marketing_sent[user] = [*recent, now]
        return False

    def _render(self, waba_id: str, payload: dict[str, Any]) -> tuple[str, str, tuple[int, dict[str, Any]] | None]:
        """The text the phone shows, the template's category, or Meta's refusal (HTTP status, body).
        Meta's order: the template (132001, then its status), the parameter count (132000), each
        parameter's format (132012), presence (131008), length (131009) and text (132018), the
        rendered length (132005), then the buttons. Each check is its own small function."""
        if payload["type"] == "text":
            return str(payload["text"].get("body", "")), "service", None
        tpl = payload["template"]
        language_object = tpl.get("language") if isinstance(tpl.get("language"), dict) else {}
        language = language_object.get("code", "")
        if not isinstance(tpl.get("name"), str) or not isinstance(language, str):
            return "", "", (400, self._error(100, "Invalid parameter", "template.name and template.language.code must be strings"))
        if language_object.get("policy", "deterministic") != "deterministic":
            return "", "", (400, self._error(100, "Invalid parameter", "language.policy: the only value is deterministic"))
        stored = self.templates.get((waba_id, tpl.get("name", ""), language))
        if refusal := self._template_refusal(stored, str(tpl.get("name")), str(language)):
            return "", "", refusal
        assert stored is not None  # no template is a 132001 above
        try:
            spec = spec_from_stored(stored)
        except Invalid as exc:  # a form the sandbox cannot fill (carousel, limited-time offer...): said, never a 500
            reason = "; ".join(p.message for p in exc.problems[:2])
            return "", "", (400, self._error(100, "Invalid parameter", f"sandbox: sends of this template cannot be checked here ({reason})"))
        listed = tpl.get("components") or []
        components = [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
        if unknown := [str(c.get("type")) for c in components if str(c.get("type", "")).lower() not in COMPONENT_TYPES]:
            return "", "", (400, self._error(100, "Invalid parameter", f"components: unknown type {unknown[0]!r}"))
        if any(not isinstance(c.get("parameters", []), list) for c in components):
            return "", "", (400, self._error(100, "Invalid parameter", "components: parameters must be a list"))
        sent: dict[str, list[Any]] = {str(c.get("type", "")).lower(): c.get("parameters") or [] for c in components}
        values: dict[str, str] = {}
        if refusal := self._header_media_refusal(spec.header_format, sent.get("header", [])):
            return "", "", refusal
        for component, variables in (("header", spec.header_variables), ("body", spec.body_variables)):
            if component == "header" and kind_of(spec.header_format):
                continue  # a media or location header: checked above
            params = sent.get(component, [])
            if refusal := self._count_refusal(component, len(variables), len(params)):
                return "", "", refusal
            for param in params:
                if refusal := self._format_refusal(component, spec.parameter_format, param):
                    return "", "", refusal
            if spec.parameter_format == "NAMED":  # by name, in any order (reference §1.2)
                names = [p.get("parameter_name") for p in params]
                if any(not isinstance(n, str) for n in names) or len(set(names)) < len(names):
                    return "", "", (400, self._error(132000, None, f"{component}: each parameter_name once, as text"))
                by_name = {p.get("parameter_name"): p for p in params}
                if missing := [v.name for v in variables if v.name not in by_name]:
                    extra = next(p.get("parameter_name") for p in params if p.get("parameter_name") not in {v.name for v in variables})
                    return "", "", (400, self._error(132000, None, f"{component}: unexpected parameter_name {extra!r}, expected {missing[0]!r}"))
                pairs = [(v, by_name[v.name]) for v in variables]
            else:
                pairs = list(zip(variables, params, strict=True))
            for var, param in pairs:
                value, refusal = self._parameter_value(component, param, spec.category)
                if refusal:
                    return "", "", refusal
                values[var.name] = value
        body = PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), spec.body_text)
        if len(body) > BODY_RENDERED_MAX:
            return "", "", (400, self._error(132005, None, f"body: the rendered text is {len(body)} characters, more than {BODY_RENDERED_MAX}"))
        if refusal := self._button_refusal(spec.buttons, [c for c in components if str(c.get("type", "")).lower() == "button"]):
            return "", "", refusal
        return body, spec.category.lower(), None

    def _parameter_value(self, component: str, param: dict[str, Any], category: str) -> tuple[str, tuple[int, dict[str, Any]] | None]:
        """A text, currency or date_time parameter's shown value, or Meta's refusal: 131008 for a
        missing or empty value, 131009 for one over its limit (60 header, 1024 body, 15 in an
        authentication template), 132018 for new lines, tabs or more than 4 spaces."""
        kind = str(param.get("type", "")).lower()
        if kind == "text":
            value = param.get("text")
        else:  # currency / date_time: Meta shows the object's fallback_value
            obj = param.get(kind)
            value = obj.get("fallback_value") if isinstance(obj, dict) else None
            amount = obj.get("amount_1000") if isinstance(obj, dict) else None
            if kind == "currency" and isinstance(obj, dict) and not (obj.get("code") and isinstance(amount, int) and not isinstance(amount, bool)):
                value = None
        if not isinstance(value, str) or not value.strip():
            return "", (400, self._error(131008, None, f"{component}: a {kind} parameter needs a non-empty value"))
        limit = PARAMETER_MAX[component]
        if category == "AUTHENTICATION":
            limit = min(limit, AUTHENTICATION_PARAMETER_MAX)
            if "://" in value or any(ord(c) > 0xFFFF or unicodedata.category(c) == "So" for c in value):
                return "", (400, self._error(131009, None, f"{component}: an authentication parameter takes no URL or emoji"))
        if len(value) > limit:
            return "", (400, self._error(131009, None, f"{component}: a parameter is {len(value)} characters, at most {limit}"))
        if re.search(r"[\n\t]| {5,}", value):
            return "", (400, self._error(132018, None, "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"))
        return value, None

    def _template_refusal(self, stored: dict[str, Any] | None, name: str, language: str) -> tuple[int, dict[str, Any]] | None:
        """132001 (HTTP 404) for a template the WABA does not have in that language, or has but
        not APPROVED (PENDING, REJECTED...). PAUSED (132015) and DISABLED (132016) are the
        template lifecycle's: checked here too, before the APPROVED test."""
        if stored is not None and stored["status"] == "PAUSED":
            return 400, self._error(132015, None, f"Template {name} ({language}) is paused due to low quality")
        if stored is not None and stored["status"] == "DISABLED":
            return 400, self._error(132016, None, f"Template {name} ({language}) has been paused too many times and is disabled")
        if stored is None or stored["status"] != "APPROVED":
            return 404, self._error(132001, None, f"template name ({name}) does not exist in {language}")
        return None

    def _count_refusal(self, component: str, expected: int, given: int) -> tuple[int, dict[str, Any]] | None:
        """132000 with Meta's details: `body: number of localizable_params (0) does not match the
        expected number of params (1)`."""
        if given == expected:
            return None
        return 400, self._error(132000, None, f"{component}: number of localizable_params ({given}) does not match the expected number of params ({expected})")

    def _format_refusal(self, component: str, parameter_format: str, param: Any) -> tuple[int, dict[str, Any]] | None:
        """132012: a text variable given another parameter type, a positional parameter to a NAMED
        template or a `parameter_name` to a POSITIONAL one."""
        if not isinstance(param, dict):
            return 400, self._error(132012, None, f"{component}: Format mismatch, expected TEXT, received UNKNOWN")
        kind = str(param.get("type", "")).lower()
        if kind not in TEXT_PARAMETER_TYPES.get(component, ("text",)):
            return 400, self._error(132012, None, f"{component}: Format mismatch, expected TEXT, received {kind.upper() or 'UNKNOWN'}")
        if parameter_format == "NAMED" and not param.get("parameter_name"):
            return 400, self._error(132012, None, f"{component}: the template's parameter_format is NAMED: each parameter needs a parameter_name")
        if parameter_format == "POSITIONAL" and "parameter_name" in param:
            return 400, self._error(132012, None, f"{component}: the template's parameter_format is POSITIONAL: parameter_name is not allowed")
        return None

    def _header_media_refusal(self, header_format: str | None, params: list[Any]) -> tuple[int, dict[str, Any]] | None:
        """132012 for a media or location header sent without its parameter, or with another type
        (the rule: domain/header_media.py `parameter_mismatch`)."""
        if kind_of(header_format) is None or parameter_mismatch(header_format, params) is None:
            return None
        first = params[0] if params and isinstance(params[0], dict) else {}
        received = str(first.get("type", "")).upper() or "UNKNOWN"
        if received == str(kind_of(header_format)).upper():  # the right type, a wrong object (both link and id...)
            return 400, self._error(132012, None, f"header: {parameter_mismatch(header_format, params)}")
        return 400, self._error(132012, None, f"header: Format mismatch, expected {header_format}, received {received}")

    def _button_refusal(self, buttons: list[Any], sent: list[dict[str, Any]]) -> tuple[int, dict[str, Any]] | None:
        """Each button component names a template button of its kind (100 for an unknown sub_type or
        index, 132000 for no button there, 132012 for another kind); then per template button:
        a URL with a variable takes one percent-encoded text (131009 otherwise), a static one none;
        an OTP button the code (at most 15); a copy-code button its coupon (131008 without one);
        a quick reply at most a payload."""
        by_index: dict[int, dict[str, Any]] = {}
        kinds = {b.index: b.type for b in buttons}
        for component in sent:
            sub_type = str(component.get("sub_type", "")).lower()
            if sub_type not in BUTTON_SUB_TYPES:
                return 400, self._error(100, "Invalid parameter", f"button: sub_type {component.get('sub_type')!r} is not valid")
            raw_index = component.get("index")
            if isinstance(raw_index, bool) or not re.fullmatch(r"[0-9]{1,2}", str(raw_index)):
                return 400, self._error(100, "Invalid parameter", f"button: index {raw_index!r} is not a number")
            index = int(str(raw_index))
            if not isinstance(component.get("parameters", []), list):
                return 400, self._error(100, "Invalid parameter", f"button at index {index}: parameters must be a list")
            if index not in kinds:
                return 400, self._error(132000, None, f"button at index {index}: the template has no button there")
            if kinds[index] not in BUTTON_SUB_TYPES[sub_type]:
                return 400, self._error(132012, None, f"button at index {index}: Format mismatch, expected {kinds[index]}, received {sub_type.upper()}")
            by_index[index] = component
        for button in buttons:
            params = [p if isinstance(p, dict) else {} for p in (by_index.get(button.index) or {}).get("parameters") or []]
            where = f"button at index {button.index}"
            if button.type in ("URL", "OTP"):
                expected = 1 if button.type == "OTP" or button.url_variable is not None else 0
                if refusal := self._count_refusal(where, expected, len(params)):
                    return refusal
                if not params:
                    continue
                text = params[0].get("text")
                if str(params[0].get("type", "")).lower() != "text" or not isinstance(text, str) or not text:
                    return 400, self._error(132012, None, f"{where}: Format mismatch, expected TEXT, received {str(params[0].get('type', '')).upper() or 'UNKNOWN'}")
                if button.type == "OTP" and len(text) > AUTHENTICATION_PARAMETER_MAX:
                    return 400, self._error(131009, None, f"{where}: the code is {len(text)} characters, at most {AUTHENTICATION_PARAMETER_MAX}")
                if button.type == "URL" and not URL_SUFFIX_RE.fullmatch(text):
                    return 400, self._error(131009, None, f"{where}: the URL suffix must be percent-encoded")
            elif button.type == "COPY_CODE":
                code = params[0].get("coupon_code") if params and str(params[0].get("type", "")).lower() == "coupon_code" else None
                if not isinstance(code, str) or not code:
                    return 400, self._error(131008, None, f"{where}: a copy_code button needs a coupon_code parameter")
                if len(code) > COUPON_CODE_MAX:
                    return 400, self._error(131009, None, f"{where}: the coupon code is {len(code)} characters, at most {COUPON_CODE_MAX}")
            elif button.type == "QUICK_REPLY" and params:
                if len(params) != 1 or str(params[0].get("type", "")).lower() != "payload" or not isinstance(params[0].get("payload"), str):
                    return 400, self._error(132012, None, f"{where}: Format mismatch, expected PAYLOAD")
            elif button.type == "MPM" and not (params and isinstance(params[0].get("action"), dict)):
                return 400, self._error(131008, None, f"{where}: a multi-product button needs its action (sections of products)")
        return None

    # ---- webhooks out -----------------------------------------------------------------------
    def _emit_statuses(self, record: dict[str, Any], outcome: list[tuple[str, dict[str, Any] | None]]) -> None:
        def job() -> None:
            for status, error in outcome:
                time.sleep(self.status_delay_seconds)
                if self.closed:
                    return
                self.send_status(record, status, error=error)

        self._spawn(job)

    def send_status(self, record: dict[str, Any], status: str, *, error: dict[str, Any] | None = None) -> int:
        item: dict[str, Any] = {"id": record["id"], "status": status, "timestamp": str(int(time.time())),
                                "recipient_id": record["to"]}
        callback = record["request"].get("biz_opaque_callback_data")
        if callback is not None:
            item["biz_opaque_callback_data"] = callback
        if status in ("sent", "delivered"):
            in_window = time.time() - self.inbound_at.get((record["phone_number_id"], record["to"]), 0) < 24 * 3600
            # Service messages, and utility templates inside an open window, are free (pricing since Jul 2025).
            free = record["category"] == "service" or (record["category"] == "utility" and in_window)
            item["pricing"] = {"billable": not free, "pricing_model": "PMP",
                               "type": "free_customer_service" if free else "regular",
                               "category": record["category"] or "utility"}
        if status == "failed":
            code = (error or {}).get("code", 131026)
            title = ERRORS.get(code, "Error")
            details = FAILED_DETAILS.get(code, f"The sandbox failed this message with {code}.")
            item["errors"] = [{"code": code, "title": title, "message": title, "error_data": {"details": details},
                               "href": "/documentation/business-messaging/whatsapp/support/error-codes"}]
        with self._lock:
            record["statuses"].append({"status": status, "timestamp": item["timestamp"]})
        number = self.numbers[record["phone_number_id"]]
        value = {"messaging_product": "whatsapp",
                 "metadata": {"display_phone_number": number["display"], "phone_number_id": record["phone_number_id"]},
                 "statuses": [item]}
        return self._emit(number["waba_id"], "messages", value)

    def inbound(self, pnid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A user writes to the business: text, or a tap on a template's quick-reply button."""
        number = self.numbers[pnid]
        user = str(payload["from"]).lstrip("+")
        message: dict[str, Any] = {"from": user, "id": wamid(), "timestamp": str(int(time.time()))}
        if "button" in payload:
            message.update({"type": "button", "button": {"payload": payload["button"].get("payload"), "text": payload["button"].get("text")}})
        else:
            message.update({"type": "text", "text": {"body": str(payload.get("text", ""))}})
        if payload.get("context_message_id"):
            message["context"] = {"from": number["display"], "id": payload["context_message_id"]}
        with self._lock:
            self.inbound_at[(pnid, user)] = time.time()
        value = {"messaging_product": "whatsapp",
                 "metadata": {"display_phone_number": number["display"], "phone_number_id": pnid},
                 "contacts": [{"profile": {"name": payload.get("name", "Sandbox User")}, "wa_id": user}],
                 "messages": [message]}
        status = self._emit(number["waba_id"], "messages", value, wait=True)
        return {"id": message["id"], "webhook_status": status}

    def _emit(self, waba_id: str, field_name: str, value: dict[str, Any], *, entry_time: bool = False, wait: bool = False) -> int:
        entry: dict[str, Any] = {"id": waba_id, "changes": [{"field": field_name, "value": value}]}
        if entry_time:
            entry["time"] = int(time.time())
        payload = {"object": "whatsapp_business_account", "entry": [entry]}
        # Meta signs ASCII-escaped JSON: sign and send these exact bytes.
        body = json.dumps(payload, ensure_ascii=True).encode()
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signatures.sign(self.app_secret, body)}
        if wait or self.synchronous_webhooks:
            return self._deliver(body, headers, payload)
        self._spawn(lambda: self._deliver(body, headers, payload))
        return 0

    def _deliver(self, body: bytes, headers: dict[str, str], payload: dict[str, Any], attempts: int = 5) -> int:
        """Like Meta: anything but 200 is retried, with growing waits (capped for a laptop)."""
        status = 0
        for attempt in range(attempts):
            if self.closed:
                return status
            try:
                status = self.deliver(body, headers) if self.deliver else 0
            except Exception:  # noqa: BLE001 - a failed delivery is retried, as Meta does
                status = 0
            self.webhook_log.append({"payload": payload, "status": status, "attempt": attempt + 1})
            if status == 200 or self.deliver is None:
                return status
            time.sleep(min(2.0, 0.1 * 2**attempt))
        return status

    def _spawn(self, fn: Callable[[], Any]) -> None:
        if self.synchronous_webhooks:
            fn()
            return
        thread = threading.Thread(target=fn, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Send no more webhooks and wait for those in flight: a stopped stack's late status would
        otherwise reach the next stack's table (moto's state is per process) outside its lock."""
        self.closed = True
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # ---- what the phone received -------------------------------------------------------------
    def received(self, to: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            items = [m for m in self.messages if to is None or m["to"] == to.strip().lstrip("+")]
            return [{"id": m["id"], "phone_number_id": m["phone_number_id"], "to": m["to"], "request": m["request"],
                     "text": m["text"], "statuses": list(m["statuses"])} for m in items]
