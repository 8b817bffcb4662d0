"""Render a template with parameters and build the exact Cloud API request.

Typed values are localized with Babel in the template's language:
`{"amount": 1580, "currency": "TWD"}`, `{"date": "2024-09-07"}`,
`{"datetime": "2024-09-07T18:30:00", "timezone": "Asia/Taipei"}`, `{"number": 1234.5}`.
Babel is imported inside the functions that need it to keep cold starts of handlers that
never render lean.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote

from wa_notify.domain import moments

if TYPE_CHECKING:  # imported where used, lazily (see above)
    from datetime import datetime

    from babel import Locale
from wa_notify.domain.header_media import HEADER_PARAM, header_parameter, kind_of
from wa_notify.domain.problems import Invalid, Problem, ProblemList
from wa_notify.domain.templates import PLACEHOLDER_RE, TemplateSpec

HEADER_PARAM_MAX = 60
BODY_PARAM_MAX = 1024
BUTTON_PARAM_MAX = 2000
BODY_RENDERED_MAX = 1024
TEXT_MESSAGE_MAX = 4096
DateStyle = Literal["short", "medium", "long", "full"]
DATE_STYLES: tuple[DateStyle, ...] = ("short", "medium", "long", "full")
# Meta rejects parameter text with a newline, a tab or more than 4 consecutive spaces (132018).
_BAD_WHITESPACE = re.compile(r"[\n\r\t]| {5,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
AMOUNT_MAX = Decimal("1e15")


@dataclass(frozen=True)
class Rendered:
    header: str | None
    body: str
    footer: str | None
    buttons: list[dict[str, Any]]
    request: dict[str, Any]
    header_media: dict[str, Any] | None = None  # a media or location header's parameter, as sent

    def as_dict(self) -> dict[str, Any]:
        return {"header": self.header, "header_media": self.header_media, "body": self.body, "footer": self.footer,
                "buttons": self.buttons, "request": self.request}


def babel_locale(language: str) -> Locale:
    """Babel locale for a WhatsApp language code, falling back to the base language, then English."""
    from babel import Locale, UnknownLocaleError

    for candidate in (language, language.split("_")[0], "en"):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")  # pragma: no cover - "en" always parses


def whitespace_problem(value: str) -> str | None:
    if _BAD_WHITESPACE.search(value):
        return "cannot contain new lines, tabs or more than 4 consecutive spaces (WhatsApp rejects it)"
    if _CONTROL.search(value):
        return "cannot contain control characters"
    return None


# An ISO 8601 date-time with its offset, as a whole parameter ("2030-01-01T10:00:00+08:00"): shown
# to the customer like a typed {datetime} ("January 1, 2030, 10:00 AM"), never raw.
ISO_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})")


def format_value(value: Any, language: str) -> str:
    """Turn one parameter value into display text; raise ValueError with a reason if it is not usable."""
    if isinstance(value, bool):
        raise ValueError("must be a string or a typed value, not a boolean")
    if isinstance(value, str):
        if ISO_DATETIME_RE.fullmatch(value):  # a date-time the platform passed as text: localized in its own offset
            try:
                return _format_datetime(value, None, "long", babel_locale(language))
            except ValueError:
                return value
        return value
    if isinstance(value, (int, float)):
        return format_value({"number": value}, language)
    if not isinstance(value, dict):
        raise ValueError("must be a string or a typed value such as {amount, currency}, {date} or {datetime, timezone}")
    locale = babel_locale(language)
    given = value.get("format")
    if given is not None and given not in DATE_STYLES:
        raise ValueError(f"format must be one of {', '.join(DATE_STYLES)}")
    style: DateStyle = given or "long"  # for dates and date-times; refused above for the other kinds
    keys = set(value) - {"format"}
    if keys == {"amount", "currency"}:
        from babel.numbers import UnknownCurrencyError, format_currency, get_currency_name

        currency = value["currency"]
        amount = value["amount"]
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            raise ValueError("currency must be an ISO 4217 code such as USD or TWD")
        try:
            get_currency_name(currency, locale="en", count=None)
            decimal_amount = Decimal(str(amount))
        except (UnknownCurrencyError, InvalidOperation) as exc:
            raise ValueError(f"is not a valid amount in {currency}") from exc
        if isinstance(amount, bool) or not isinstance(amount, (int, float, str)) or not decimal_amount.is_finite():
            raise ValueError("amount must be a number")
        if abs(decimal_amount) >= AMOUNT_MAX:
            raise ValueError("amount is out of range")
        if currency not in _known_currencies():
            raise ValueError(f"unknown currency {currency}")
        return format_currency(decimal_amount, currency, locale=locale)
    if keys == {"number"}:
        from babel.numbers import format_decimal

        number = value["number"]
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) or abs(number) >= AMOUNT_MAX:
            raise ValueError("number must be a finite number below 10^15")
        return format_decimal(number, locale=locale)
    if keys == {"date"}:
        from datetime import date

        from babel.dates import format_date

        try:
            parsed = date.fromisoformat(value["date"])
        except (TypeError, ValueError) as exc:
            raise ValueError("date must be an ISO 8601 date such as 2024-09-07") from exc
        return format_date(parsed, format=style, locale=locale)
    if keys in ({"datetime", "timezone"}, {"datetime"}):
        return _format_datetime(value.get("datetime"), value.get("timezone"), style, locale)
    raise ValueError("unknown typed value: use {amount, currency}, {date}, {datetime, timezone} or {number}")


def _known_currencies() -> frozenset[str]:
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


def parse_datetime(raw: Any, timezone: Any) -> datetime:
    """An aware datetime from an ISO string, in `timezone` when given (naive strings are local to it)."""
    from datetime import datetime

    if not isinstance(raw, str):
        raise ValueError("datetime must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError("datetime must be an ISO 8601 date-time such as 2024-09-07T18:30:00+08:00") from exc
    if not moments.in_range(parsed):
        raise ValueError(f"datetime {moments.RANGE_PROBLEM}")
    zone = None
    if timezone is not None:
        try:
            zone = moments.zone_info(timezone)
        except ValueError as exc:
            raise ValueError(f"timezone {str(timezone)[:64]!r} {moments.ZONE_PROBLEM}") from exc
    if parsed.tzinfo is None:
        if zone is None:
            raise ValueError("datetime needs an offset (2024-09-07T18:30:00+08:00) or a timezone")
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(zone) if zone else parsed


def _format_datetime(raw: Any, timezone: Any, style: DateStyle, locale: Locale) -> str:
    from babel.dates import format_date, format_time, get_datetime_format

    moment = parse_datetime(raw, timezone)
    pattern = str(get_datetime_format(style, locale=locale))  # "{1}, {0}": Babel's stub says DateTimePattern
    time_text = format_time(moment, format="short", tzinfo=moment.tzinfo, locale=locale)
    date_text = format_date(moment.date(), format=style, locale=locale)
    return pattern.replace("{1}", date_text).replace("{0}", time_text).replace("'", "")


@functools.lru_cache(maxsize=1024)
def split_text(text: str) -> tuple[str, ...]:
    """A template text pre-split once into literal, name, literal, name, ..., literal: filling it
    is then a join, with no regular expression per send (a campaign renders the same text
    100,000 times)."""
    parts: list[str] = []
    last = 0
    for match in PLACEHOLDER_RE.finditer(text):
        parts += [text[last : match.start()], match.group(1)]
        last = match.end()
    parts.append(text[last:])
    return tuple(parts)


def fill(text: str, values: dict[str, str]) -> str:
    parts = split_text(text)
    if len(parts) == 1:
        return text
    out = [parts[0]]
    for i in range(1, len(parts), 2):
        name = parts[i]
        out += [values.get(name, "{{" + name + "}}"), parts[i + 1]]
    return "".join(out)



def render(
    spec: TemplateSpec,
    params: dict[str, Any] | None,
    button_params: dict[str, Any] | None = None,
    *,
    to: str | None = None,
    callback_data: str | None = None,
) -> Rendered:
    """Fill the template; raise `Invalid` listing every bad, missing or unknown parameter."""
    params = params or {}
    button_params = button_params or {}
    problems = ProblemList()
    if not isinstance(params, dict):
        raise Invalid([Problem("params", "must be an object")])
    text_values: dict[str, dict[str, str]] = {"header": {}, "body": {}}
    limits = {"header": HEADER_PARAM_MAX, "body": BODY_PARAM_MAX}
    expected = {v.name for v in spec.header_variables} | {v.name for v in spec.body_variables}
    if kind_of(spec.header_format):
        expected.add(HEADER_PARAM)  # the media or location of the header (domain/header_media.py)
    for unknown in sorted(set(params) - expected):
        known = ", ".join(sorted(expected)) or "none"
        problems.add(f"params.{unknown}", f"is not a variable of template {spec.name} (its variables: {known})")
    for var in [*spec.header_variables, *spec.body_variables]:
        field = f"params.{var.name}"
        if var.name not in params:
            problems.add(field, f"is required by the template {var.component}")
            continue
        try:
            text = format_value(params[var.name], spec.language)
        except ValueError as exc:
            problems.add(field, str(exc))
            continue
        if not text.strip():
            problems.add(field, "cannot be empty")
            continue
        if reason := whitespace_problem(text):
            problems.add(field, reason)
            continue
        if len(text) > limits[var.component]:
            problems.add(field, f"is {len(text)} characters; a {var.component} parameter is at most {limits[var.component]}")
            continue
        text_values[var.component][var.name] = text
    header_media = header_parameter(spec.header_format, params, problems)

    buttons_out: list[dict[str, Any]] = []
    button_components: list[dict[str, Any]] = []
    valid_indexes = {str(b.index) for b in spec.buttons}
    if not isinstance(button_params, dict):
        problems.add("button_params", "must be an object keyed by button index")
        button_params = {}
    for key in sorted(set(map(str, button_params)) - valid_indexes):
        problems.add(f"button_params.{key}", f"template {spec.name} has no button at index {key}")
    for button in spec.buttons:
        key = str(button.index)
        supplied = button_params.get(key, button_params.get(button.index))  # type: ignore[call-overload]
        entry: dict[str, Any] = {"index": button.index, "type": button.type, "text": button.text}
        if button.type == "URL" and button.url:
            if button.url_variable is not None:
                if supplied is None:
                    problems.add(f"button_params.{key}", f"button {key} ({button.text}) needs a value for its URL")
                    continue
                if not isinstance(supplied, str) or not supplied.strip():
                    problems.add(f"button_params.{key}", "must be a non-empty string")
                    continue
                if reason := whitespace_problem(supplied):
                    problems.add(f"button_params.{key}", reason)
                    continue
                # The dynamic URL suffix must be percent-encoded; decode first so encoded input is not doubled.
                suffix = quote(unquote(supplied), safe="")
                if len(suffix) > BUTTON_PARAM_MAX:
                    problems.add(f"button_params.{key}", f"is too long: at most {BUTTON_PARAM_MAX} characters")
                    continue
                entry["url"] = PLACEHOLDER_RE.sub(suffix, button.url)
                button_components.append(
                    {"type": "button", "sub_type": "url", "index": key, "parameters": [{"type": "text", "text": suffix}]}
                )
            else:
                if supplied is not None:
                    problems.add(f"button_params.{key}", "this URL button has no variable")
                entry["url"] = button.url
        elif button.type == "QUICK_REPLY":
            if supplied is not None:
                if not isinstance(supplied, str) or not supplied or len(supplied) > 256:
                    problems.add(f"button_params.{key}", "a quick-reply payload is a string of 1 to 256 characters")
                    continue
                entry["payload"] = supplied
                button_components.append(
                    {"type": "button", "sub_type": "quick_reply", "index": key, "parameters": [{"type": "payload", "payload": supplied}]}
                )
        elif button.type == "PHONE_NUMBER":
            entry["phone_number"] = button.phone_number
            if supplied is not None:
                problems.add(f"button_params.{key}", "a phone-number button takes no parameter")
        elif supplied is not None:
            if button.type == "COPY_CODE" and isinstance(supplied, str) and 0 < len(supplied) <= 15:
                button_components.append(
                    {"type": "button", "sub_type": "copy_code", "index": key, "parameters": [{"type": "coupon_code", "coupon_code": supplied}]}
                )
            else:
                problems.add(f"button_params.{key}", f"a {button.type} button takes no parameter here")
        buttons_out.append(entry)

    problems.raise_if_any()
    header = fill(spec.header_text, text_values["header"]) if spec.header_text is not None else None
    body = fill(spec.body_text, text_values["body"])
    if len(body) > BODY_RENDERED_MAX:
        raise Invalid([Problem("params", f"the rendered body is {len(body)} characters; WhatsApp allows {BODY_RENDERED_MAX}")])

    components: list[dict[str, Any]] = [{"type": "header", "parameters": [header_media]}] if header_media else []
    named = spec.parameter_format == "NAMED"
    for component in ("header", "body"):
        variables = spec.header_variables if component == "header" else spec.body_variables
        if not variables:
            continue
        parameters = []
        for var in variables:
            param: dict[str, Any] = {"type": "text", "text": text_values[component][var.name]}
            if named:
                param["parameter_name"] = var.name
            parameters.append(param)
        components.append({"type": component, "parameters": parameters})
    components.extend(button_components)
    request: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if to is not None:
        request["to"] = to
    template: dict[str, Any] = {"name": spec.name, "language": {"code": spec.language}}
    if components:
        template["components"] = components
    request.update({"type": "template", "template": template})
    if callback_data is not None:
        request["biz_opaque_callback_data"] = callback_data
    return Rendered(header=header, body=body, footer=spec.footer_text, buttons=buttons_out, request=request, header_media=header_media)


def text_request(to: str, body: str, *, callback_data: str | None = None) -> dict[str, Any]:
    """A free-form text message (only deliverable inside the 24 h customer-service window)."""
    problems = ProblemList()
    if not body.strip():
        problems.add("text", "cannot be empty")
    elif len(body) > TEXT_MESSAGE_MAX:
        problems.add("text", f"is {len(body)} characters; at most {TEXT_MESSAGE_MAX} allowed")
    problems.raise_if_any()
    request: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": body},
    }
    if callback_data is not None:
        request["biz_opaque_callback_data"] = callback_data
    return request
