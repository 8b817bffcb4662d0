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
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote

from wa_notify.domain import moments

if TYPE_CHECKING:  # imported where used, lazily (see above)
    from datetime import datetime

    from babel import Locale
from wa_notify.domain.free_text import TEXT_MESSAGE_MAX as TEXT_MESSAGE_MAX  # free-form texts, read here by their callers
from wa_notify.domain.free_text import text_request as text_request
from wa_notify.domain.free_text import unreadable_text as unreadable_text
from wa_notify.domain.header_media import header_parameter
from wa_notify.domain.problems import Invalid, Problem, ProblemList
from wa_notify.domain.render_plan import BODY_PARAM_MAX as BODY_PARAM_MAX  # the limits render() applies
from wa_notify.domain.render_plan import HEADER_PARAM_MAX as HEADER_PARAM_MAX
from wa_notify.domain.render_plan import fill as fill  # filling a text, read here by its callers
from wa_notify.domain.render_plan import fill_parts, plan_of
from wa_notify.domain.template_text import reads_backwards
from wa_notify.domain.templates import TemplateSpec

BUTTON_PARAM_MAX = 2000
# Authentication templates: a parameter (the code) is at most 15 characters, no URL (reference §1.2).
AUTH_PARAM_MAX = 15
COUPON_CODE_MAX = 15
BODY_RENDERED_MAX = 1024
DateStyle = Literal["short", "medium", "long", "full"]
DATE_STYLES: tuple[DateStyle, ...] = ("short", "medium", "long", "full")
# Meta rejects parameter text with a newline, a tab or more than 4 consecutive spaces (132018).
_BAD_WHITESPACE = re.compile(r"[\n\r\t]| {5,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
AMOUNT_MAX = Decimal("1e15")
# ISO 4217 codes Babel lists that are no money a customer pays: "no currency", testing, precious
# metals, IMF and bond-market units ("¤1.00" reached a phone).
NOT_MONEY = frozenset({"XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XDR", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA", "XFO", "XFU", "XRE"})
# What urllib's quote() leaves as it is with safe="": a suffix made only of these is its own encoding.
_URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"


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


@functools.lru_cache(maxsize=256)
def babel_locale(language: str) -> Locale:
    """Babel locale for a WhatsApp language code, falling back to the base language, then English.
    Parsed once per code (Babel parses and loads its data again on every call, ~6 us); bounded
    because the code is the caller's."""
    from babel import Locale, UnknownLocaleError

    # Dari (Meta's prs_AF) is Persian as written in Afghanistan: CLDR's fa_AF.
    for candidate in (language, {"prs_AF": "fa_AF", "prs": "fa_AF"}.get(language, ""), language.split("_")[0], "en"):
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse("en")  # pragma: no cover - "en" always parses


def whitespace_problem(value: str) -> str | None:
    # Every character both patterns look for is unprintable (a control character) or part of a run
    # of 5 spaces: most values are neither, checked without a regular expression.
    if value.isprintable() and "     " not in value:
        return None
    if _BAD_WHITESPACE.search(value):
        return "cannot contain new lines, tabs or more than 4 consecutive spaces (WhatsApp rejects it)"
    if _CONTROL.search(value):
        return "cannot contain control characters"
    if reads_backwards(value):
        return "cannot contain direction overrides (U+202D, U+202E): they make the text read backwards"
    return None


# An ISO 8601 date-time with its offset, as a whole parameter ("2030-01-01T10:00:00+08:00"): shown
# to the customer like a typed {datetime} ("January 1, 2030, 10:00 AM"), never raw. ASCII digits
# only: other scripts' digits are text, not a date-time.
ISO_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})", re.ASCII)


def format_value(value: Any, language: str) -> str:
    """Turn one parameter value into display text; raise ValueError with a reason if it is not usable."""
    if isinstance(value, bool):
        raise ValueError("must be a string or a typed value, not a boolean")
    if isinstance(value, str):
        if ISO_DATETIME_RE.fullmatch(value):  # a date-time the platform passed as text: localized in its own offset
            # One that cannot be shown (2030-02-30, year 9999 or 0001) is refused as a typed
            # {datetime} would be: sent raw, the customer would read "9999-12-31T23:59:59-12:00".
            return _format_datetime(value, None, "long", babel_locale(language))
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
        from babel.numbers import format_currency

        currency = value["currency"]
        amount = value["amount"]
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
            raise ValueError("currency must be an ISO 4217 code such as USD or TWD")
        try:
            decimal_amount = Decimal(str(amount))
        except InvalidOperation as exc:
            raise ValueError(f"is not a valid amount in {currency}") from exc
        if isinstance(amount, bool) or not isinstance(amount, (int, float, str)) or not decimal_amount.is_finite():
            raise ValueError("amount must be a number")
        if abs(decimal_amount) >= AMOUNT_MAX:
            raise ValueError("amount is out of range")
        if currency not in _known_currencies() or currency in NOT_MONEY:
            raise ValueError(f"unknown currency {currency}" if currency not in NOT_MONEY else
                             f"{currency} is an ISO 4217 code for no currency (testing, metals, funds): give the currency the customer pays in")
        return format_currency(decimal_amount, currency, locale=locale)
    if keys == {"number"}:
        from babel.numbers import format_decimal

        number = value["number"]
        if isinstance(number, str):
            # An amount may be text (exact decimals); a number is formatted as one, so say what it is.
            raise ValueError(f"number must be a JSON number, not text: {number[:20]!r} -> {number[:20]}")
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
        if not moments.EARLIEST_YEAR <= parsed.year <= moments.LATEST_YEAR:  # as {datetime}: "January 1, 1" is no date to send
            raise ValueError(f"date {moments.RANGE_PROBLEM}")
        return format_date(parsed, format=style, locale=locale)
    if keys in ({"datetime", "timezone"}, {"datetime"}):
        return _format_datetime(value.get("datetime"), value.get("timezone"), style, locale)
    raise ValueError("unknown typed value: use {amount, currency}, {date}, {datetime, timezone} or {number}")


@functools.cache
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


def render(
    spec: TemplateSpec,
    params: dict[str, Any] | None,
    button_params: dict[str, Any] | None = None,
    *,
    to: str | None = None,
    callback_data: str | None = None,
) -> Rendered:
    """Fill the template; raise `Invalid` listing every bad, missing or unknown parameter.

    Every message of the API, campaigns and flows is rendered here, so what does not depend on
    the send is read from the spec's plan (plan_of), texts are pre-split once (split_text), and a
    value is not run through a regular expression it cannot fail (whitespace_problem); every
    problem is still found and named in the same order."""
    params = params or {}
    button_params = button_params or {}
    if not isinstance(params, dict):
        raise Invalid([Problem("params", "must be an object")])
    plan = plan_of(spec)
    problems: list[Problem] = []
    header_values: dict[str, str] = {}
    body_values: dict[str, str] = {}
    if not plan.expected.issuperset(params):
        known = ", ".join(sorted(plan.expected)) or "none"
        problems += [Problem(f"params.{unknown}", f"is not a variable of template {spec.name} (its variables: {known})")
                     for unknown in sorted(set(params) - plan.expected)]
    language = spec.language
    for name, placeholder, component, limit in plan.text_variables:
        if name not in params:
            problems.append(Problem(f"params.{name}", f"is required by the template {component}" if name == placeholder else
                                    f"is required: the header's {{{{{placeholder}}}}} (each component numbers its own variables; params.{placeholder} fills the body's)"))
            continue
        value = params[name]
        if type(value) is str and value[10:11] != "T":  # plain text, not an ISO date-time (see format_value)
            text = value
        else:
            try:
                text = format_value(value, language)
            except ValueError as exc:
                problems.append(Problem(f"params.{name}", str(exc)))
                continue
        if not text.strip():
            problems.append(Problem(f"params.{name}", "cannot be empty"))
            continue
        if not (text.isprintable() and "     " not in text) and (reason := whitespace_problem(text)):  # its first test inlined: most values pass it
            problems.append(Problem(f"params.{name}", reason))
            continue
        if len(text) > limit:
            problems.append(Problem(f"params.{name}", f"is {len(text)} characters; a {component} parameter is at most {limit}"))
            continue
        if spec.category == "AUTHENTICATION" and (len(text) > AUTH_PARAM_MAX or "://" in text or "www." in text.lower()
                                                  or any(ord(c) > 0xFFFF or unicodedata.category(c) == "So" for c in text)):
            problems.append(Problem(f"params.{name}", f"an authentication template's code is at most {AUTH_PARAM_MAX} characters, "
                                                      "with no URL or emoji"))
            continue
        (header_values if component == "header" else body_values)[placeholder] = text
    header_media = None
    if plan.media_header:
        media_problems = ProblemList()
        header_media = header_parameter(spec.header_format, params, media_problems)
        problems += media_problems.items

    buttons_out: list[dict[str, Any]] = []
    button_components: list[dict[str, Any]] = []
    if not isinstance(button_params, dict):
        problems.append(Problem("button_params", "must be an object keyed by button index"))
        button_params = {}
    if button_params and not plan.button_keys.issuperset(button_params) and not plan.button_keys.issuperset(map(str, button_params)):
        problems += [Problem(f"button_params.{key}", f"template {spec.name} has no button at index {key}")
                     for key in sorted(set(map(str, button_params)) - plan.button_keys)]
    # An authentication template's one-time code: its body's one variable. Its OTP button (or the
    # URL form Meta stores it as) carries the same code, so the platform gives it once.
    auth_code = body_values.get(plan.body_variables[0]) if spec.category == "AUTHENTICATION" and len(plan.body_variables) == 1 else None
    for button, key, url_parts in plan.buttons:
        # By its key ("0"), else by its index as a number (0)
        supplied = (button_params[key] if key in button_params else button_params.get(button.index)) if button_params else None  # type: ignore[call-overload]
        entry: dict[str, Any] = {"index": button.index, "type": button.type, "text": button.text}
        if spec.category == "AUTHENTICATION" and button.type in ("OTP", "URL") and (button.type == "OTP" or button.url_variable is not None):
            if supplied is None and auth_code is None and problems:
                continue  # the body's code was refused above: that problem says it, once
            if supplied is not None and auth_code is not None and supplied != auth_code:
                problems.append(Problem(f"button_params.{key}", "an authentication button carries the body's code: leave it out or give the same code"))
                continue
            supplied = supplied if supplied is not None else auth_code
            if button.type == "OTP":
                if not isinstance(supplied, str) or not supplied.strip() or len(supplied) > AUTH_PARAM_MAX:
                    problems.append(Problem(f"button_params.{key}", f"the OTP button needs the code (the body's variable), 1 to {AUTH_PARAM_MAX} characters"))
                    continue
                button_components.append({"type": "button", "sub_type": "url", "index": key, "parameters": [{"type": "text", "text": supplied}]})
                buttons_out.append(entry)
                continue
        if button.type == "URL" and button.url:
            if button.url_variable is not None:
                if supplied is None:
                    problems.append(Problem(f"button_params.{key}", f"button {key} ({button.text}) needs a value for its URL"))
                    continue
                if not isinstance(supplied, str) or not supplied.strip():
                    problems.append(Problem(f"button_params.{key}", "must be a non-empty string"))
                    continue
                if not (supplied.isprintable() and "     " not in supplied) and (reason := whitespace_problem(supplied)):
                    problems.append(Problem(f"button_params.{key}", reason))
                    continue
                # The dynamic URL suffix must be percent-encoded; decode first so encoded input is not
                # doubled. A suffix of URL-safe characters only (no "%") is its own encoding.
                suffix = supplied if not supplied.rstrip(_URL_SAFE) else quote(unquote(supplied), safe="")
                if len(suffix) > BUTTON_PARAM_MAX:
                    problems.append(Problem(f"button_params.{key}", f"is too long: at most {BUTTON_PARAM_MAX} characters"))
                    continue
                entry["url"] = suffix.join(url_parts[0::2]) if url_parts else button.url  # every placeholder: the suffix
                button_components.append(
                    {"type": "button", "sub_type": "url", "index": key, "parameters": [{"type": "text", "text": suffix}]}
                )
            else:
                if supplied is not None:
                    problems.append(Problem(f"button_params.{key}", "this URL button has no variable"))
                entry["url"] = button.url
        elif button.type == "QUICK_REPLY":
            if supplied is not None:
                if not isinstance(supplied, str) or not supplied or len(supplied) > 256:
                    problems.append(Problem(f"button_params.{key}", "a quick-reply payload is a string of 1 to 256 characters"))
                    continue
                entry["payload"] = supplied
                button_components.append(
                    {"type": "button", "sub_type": "quick_reply", "index": key, "parameters": [{"type": "payload", "payload": supplied}]}
                )
        elif button.type == "PHONE_NUMBER":
            entry["phone_number"] = button.phone_number
            if supplied is not None:
                problems.append(Problem(f"button_params.{key}", "a phone-number button takes no parameter"))
        elif button.type == "COPY_CODE":
            # The code the customer copies is the send's: the template's example was for review only.
            if not isinstance(supplied, str) or not supplied.strip() or len(supplied) > COUPON_CODE_MAX:
                problems.append(Problem(f"button_params.{key}", f"button {key} copies a code: give it, 1 to {COUPON_CODE_MAX} characters"))
                continue
            button_components.append(
                {"type": "button", "sub_type": "copy_code", "index": key, "parameters": [{"type": "coupon_code", "coupon_code": supplied}]}
            )
        elif supplied is not None:
            problems.append(Problem(f"button_params.{key}", f"a {button.type} button takes no parameter here"))
        buttons_out.append(entry)

    if problems:
        raise Invalid(problems)
    header = fill_parts(plan.header_parts, header_values) if plan.header_parts is not None else None
    body = fill_parts(plan.body_parts, body_values)
    if len(body) > BODY_RENDERED_MAX:
        raise Invalid([Problem("params", f"the rendered body is {len(body)} characters; WhatsApp allows {BODY_RENDERED_MAX}")])

    components: list[dict[str, Any]] = [{"type": "header", "parameters": [header_media]}] if header_media else []
    if plan.header_variables:
        components.append({"type": "header", "parameters": _text_parameters(plan.header_variables, header_values, plan.named)})
    if plan.body_variables:
        components.append({"type": "body", "parameters": _text_parameters(plan.body_variables, body_values, plan.named)})
    components += button_components
    request: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if to is not None:
        request["to"] = to
    template: dict[str, Any] = {"name": spec.name, "language": {"code": language}}
    if components:
        template["components"] = components
    request["type"] = "template"
    request["template"] = template
    if callback_data is not None:
        request["biz_opaque_callback_data"] = callback_data
    return Rendered(header, body, spec.footer_text, buttons_out, request, header_media)


def _text_parameters(names: tuple[str, ...], values: dict[str, str], named: bool) -> list[dict[str, Any]]:
    if named:
        return [{"type": "text", "text": values[name], "parameter_name": name} for name in names]
    return [{"type": "text", "text": values[name]} for name in names]
