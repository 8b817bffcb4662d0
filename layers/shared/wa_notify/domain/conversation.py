"""The customer-service window and what a message will be billed as (whatsapp-cloud-api.md §6). Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from wa_notify.domain.records import Billing, ContactRow

WINDOW = timedelta(hours=24)


def window_open(window_expires_at: str | None, now: datetime) -> bool:
    if not window_expires_at:
        return False
    return datetime.fromisoformat(window_expires_at.replace("Z", "+00:00")) > now


def billing(kind: str, category: str | None, in_window: bool) -> Billing:
    """What Meta will charge (per-message pricing since 1 Jul 2025): free-form text is service and
    free; a utility template inside an open window is free; marketing is always charged;
    authentication is charged."""
    if kind == "text":
        return {"category": "service", "type": "free_customer_service", "billable": False}
    category = (category or "").lower()
    if category == "utility" and in_window:
        return {"category": "utility", "type": "free_customer_service", "billable": False}
    return {"category": category, "type": "regular", "billable": True}


def _part(message: dict[str, Any], *path: str) -> Any:
    """The value at `path`, None when absent; ValueError when a step is not an object or the
    value not a string (the shapes Meta documents for the parts read here)."""
    value: Any = message
    for i, key in enumerate(path):
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError(f"{'.'.join(path[:i]) or 'the message'} is not an object")
        value = value.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{'.'.join(path)} is not a string")
    return value


def inbound_summary(message: dict[str, Any]) -> dict[str, Any]:
    """The parts of an inbound WhatsApp message a platform needs, whatever its type (§4.5).

    A part of another type than Meta documents (`{"context": {"id": {"$ne": 1}}}`, a button's
    `"text": 5`, a string for an object) is a ValueError: the webhook skips that message with a
    warning before anything is stored. Read on, it became a row no read takes, failed its handling
    half way, or reached DynamoDB as a key of the wrong type, refused on every redelivery."""
    kind = _part(message, "type") or "unknown"
    out: dict[str, Any] = {"type": kind}
    if kind == "text":
        out["text"] = _part(message, "text", "body")
    elif kind == "button":  # a template quick-reply tap
        out.update(payload=_part(message, "button", "payload"), text=_part(message, "button", "text"))
    elif kind == "interactive":
        reply_type = _part(message, "interactive", "type")  # also: interactive is an object (or absent)
        chosen = "button_reply" if (message.get("interactive") or {}).get("button_reply") else "list_reply"
        out.update(payload=_part(message, "interactive", chosen, "id"), text=_part(message, "interactive", chosen, "title"),
                   reply_type=reply_type)
    elif kind == "reaction":
        out.update(emoji=_part(message, "reaction", "emoji"), reacted_to=_part(message, "reaction", "message_id"))
    context_id = _part(message, "context", "id")
    if context_id:
        out["context_id"] = context_id
    out.update({k: v for k, v in _details(message, kind).items() if v not in ({}, [])})
    return out


def profile_name_of(value: Any) -> str | None:
    """The customer's WhatsApp profile name as a contact name (it fills `{"contact": "name"}`
    params): None when it could not be one (not text, blank, control characters, direction overrides)."""
    import unicodedata

    from wa_notify.domain.template_text import reads_backwards, shows_nothing

    if not isinstance(value, str) or shows_nothing(value) or len(value) > 200:
        return None
    if any(unicodedata.category(c) == "Cc" for c in value) or reads_backwards(value):
        return None
    return value.strip()


TEXT_KEEP = 4096  # a caption, an address, a shared contact's name: more is not a customer's message
FLOW_RESPONSE_KEEP = 20_000  # a WhatsApp Flow's answers (JSON text)
LIST_KEEP = 20  # shared contacts, their phones, an order's lines
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


def _string(value: Any, keep: int = TEXT_KEEP) -> str | None:
    return value[:keep] if isinstance(value, str) and value else None


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) < 1e15 else None


def _strings(obj: Any, *fields: str) -> dict[str, str]:
    """The string fields of an object Meta sent (anything else left out: these parts only inform)."""
    if not isinstance(obj, dict):
        return {}
    return {f: v for f in fields if (v := _string(obj.get(f))) is not None}


def _details(message: dict[str, Any], kind: str) -> dict[str, Any]:
    """What else an inbound message carries that a platform acts on (reference §4.5): the media's
    id (to fetch it), caption and file name; a location; shared contacts; an order's lines; a
    WhatsApp Flow's answers; the ad a click-to-WhatsApp message came from; a forward; a number
    change. A part of an odd shape is left out, never the message (they inform; the type,
    text and payload above decide what happens)."""
    out: dict[str, Any] = {}
    if kind in MEDIA_TYPES:
        media = _strings(message.get(kind), "id", "mime_type", "caption", "filename", "sha256")
        if isinstance(message.get(kind), dict) and isinstance(message[kind].get("voice"), bool):
            media["voice"] = message[kind]["voice"]
        out["media"] = media
    elif kind == "location" and isinstance(message.get("location"), dict):
        place = message["location"]
        latitude, longitude = _number(place.get("latitude")), _number(place.get("longitude"))
        if latitude is not None and longitude is not None and abs(latitude) <= 90 and abs(longitude) <= 180:  # a point, or nothing
            out["location"] = {"latitude": latitude, "longitude": longitude, **_strings(place, "name", "address", "url")}
    elif kind == "contacts" and isinstance(message.get("contacts"), list):
        cards = []
        for card in message["contacts"][:LIST_KEEP]:
            if not isinstance(card, dict):
                continue
            phones = card.get("phones")
            listed: list[Any] = phones if isinstance(phones, list) else []
            shown: dict[str, Any] = {}
            if isinstance(card.get("name"), dict) and (formatted := _string(card["name"].get("formatted_name"))):
                shown["name"] = formatted
            shown["phones"] = [p for p in (_strings(x, "phone", "wa_id", "type") for x in listed[:LIST_KEEP]) if p]
            cards.append(shown)
        out["contacts"] = cards
    elif kind == "order" and isinstance(message.get("order"), dict):
        order = message["order"]
        items = [{**_strings(i, "product_retailer_id", "currency"),
                  **{k: n for k in ("quantity", "item_price") if (n := _number(i.get(k))) is not None}}
                 for i in (order.get("product_items") if isinstance(order.get("product_items"), list) else [])[:100] if isinstance(i, dict)]
        out["order"] = {**_strings(order, "catalog_id", "text"), "product_items": items}
    elif kind == "interactive" and isinstance(message.get("interactive"), dict) and isinstance(message["interactive"].get("nfm_reply"), dict):
        reply = message["interactive"]["nfm_reply"]
        out["flow_response"] = {**_strings(reply, "name", "body"),
                                **({"response_json": r} if (r := _string(reply.get("response_json"), FLOW_RESPONSE_KEEP)) else {})}
    elif kind == "system":
        out["system"] = _strings(message.get("system"), "type", "body", "new_wa_id", "wa_id", "customer")
    if isinstance(message.get("referral"), dict):
        out["referral"] = _strings(message["referral"], "source_url", "source_id", "source_type", "headline", "body", "media_type", "ctwa_clid")
    context = message.get("context")
    for flag in ("forwarded", "frequently_forwarded"):
        if isinstance(context, dict) and context.get(flag) is True:
            out[flag] = True
    return out


DEFAULT_VALUE_TIERS = [{"tag": "tier_vip", "min_spend": 100_000}, {"tag": "tier_high", "min_spend": 20_000}, {"tag": "tier_standard", "min_spend": 0}]


def computed_tags(contact: ContactRow, now: datetime, value_tiers: list[dict[str, Any]] | None = None) -> list[str]:
    """Activity from the customer's last message (active 7 d, no interaction 30 d, cold after 180 d)
    and a value tier from `attributes.annual_spend` (the highest tier whose `min_spend` it reaches)."""
    tags = []
    last = contact.get("last_inbound_at") or contact.get("created_at")
    if last:
        idle = now - datetime.fromisoformat(last.replace("Z", "+00:00"))
        if contact.get("last_inbound_at") and idle <= timedelta(days=7):
            tags.append("active_7d")
        if idle > timedelta(days=180):
            tags.append("cold")
        elif idle > timedelta(days=30):
            tags.append("inactive_30d")
    spend = (contact.get("attributes") or {}).get("annual_spend")
    if isinstance(spend, (int, float)) and not isinstance(spend, bool):
        for tier in sorted(value_tiers or DEFAULT_VALUE_TIERS, key=lambda t: -t["min_spend"]):
            if spend >= tier["min_spend"]:
                tags.append(tier["tag"])
                break
    return tags


def normalized_reply(text: str | None) -> str:
    """A reply as words are compared: Unicode NFKD without combining marks (accents), casefolded,
    with whatever is not a letter or digit trimmed from both ends (punctuation, spaces, emoji),
    inner dashes as spaces and inner whitespace collapsed: " Cancelár!! 👋" -> "cancelar",
    "ＳＴＯＰ" -> "stop", "Opt-Out" -> "opt out"."""
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFKD", text or "") if not unicodedata.combining(c)).casefold()
    plain = plain.replace("\u2019", "'").replace("\u2018", "'")  # phones type "I’ll be there"
    kept = [i for i, c in enumerate(plain) if unicodedata.category(c)[0] in "LN"]
    inner = plain[kept[0]:kept[-1] + 1] if kept else ""
    # Dashes inside are spaces: "opt-out" is "opt out" ("NOT-COMING" and "not coming" the same key).
    return " ".join("".join(" " if unicodedata.category(c) == "Pd" else c for c in inner).split())


# Opt-out and opt-in words in the seeds' languages (and the ones the product is sold in); matched
# on the whole message after normalized_reply, so accents, case and punctuation do not matter.
STOP_WORDS = frozenset(normalized_reply(w) for w in (
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "opt out",  # en (CTIA's standard words)
    "parar", "pare", "sair", "descadastrar", "cancelar",  # pt
    "basta", "annulla", "disiscriviti",  # it
    "退訂", "退订", "取消訂閱", "取消订阅", "停止",  # zh
    "stopp", "arrêt", "baja", "detener", "desuscribir"))
START_WORDS = frozenset(normalized_reply(w) for w in ("start", "unstop", "subscribe", "iniciar", "começar", "reanudar", "订阅", "訂閱", "開始"))


def opt_intent(text: str | None) -> str | None:
    """"out" for STOP and its equivalents, "in" for START, else None."""
    word = normalized_reply(text)
    if word in STOP_WORDS:
        return "out"
    if word in START_WORDS:
        return "in"
    return None


def opt_decision(kind: str, payload: str | None, text: str | None, action: str | None, answers_flow: bool) -> str | None:
    """What a customer's message does to their marketing consent: "out", "in" or None.

    A payload the tenant mapped to `opt_out` opts out. A STOP word typed or tapped opts out,
    except a cancel word ("Cancelar", "cancel", "annulla") answering a message of a flow with a
    key (a booking reminder): that cancels the booking (`action` "cancel") and leaves consent."""
    if action == "opt_out":
        return "out"
    if kind not in ("text", "button"):
        return None
    intent = opt_intent(text) or (opt_intent(payload) if kind == "button" else None)
    if intent == "out" and action == "cancel" and answers_flow:
        return None
    return intent


DEFAULT_REPLY_ACTIONS = {normalized_reply(k): v for k, v in {
    "cancel": "cancel", "cancelar": "cancel", "annulla": "cancel", "cancel visit": "cancel", "cancel booking": "cancel",
    "confirm": "confirm", "confirm visit": "confirm", "confirmar": "confirm", "yes": "confirm", "i'll be there": "confirm",
    "reschedule": "reschedule", "change time": "reschedule", "change": "reschedule", "reprogramar": "reschedule",
}.items()}
RATING_EMOJI = {"\U0001F621": 1, "\U0001F61E": 2, "\U0001F610": 3, "\U0001F642": 4, "\U0001F60D": 5, "\U0001F929": 5}
ESCALATE_BELOW = 3


def reply_action(payload: str | None, text: str | None, custom: dict[str, str] | None = None) -> str | None:
    """cancel | confirm | reschedule | opt_out for a reply, from the payload first, then the label
    (both compared as normalized_reply: "CANCELÁR!" is "cancelar")."""
    actions = {**DEFAULT_REPLY_ACTIONS, **{normalized_reply(k): v for k, v in (custom or {}).items()}}
    for candidate in (payload, text):
        word = normalized_reply(candidate)
        if word and word in actions:
            return actions[word]
    return None


def rating(payload: str | None, text: str | None, custom: dict[str, int] | None = None) -> int | None:
    """1-5 from "4", "4 stars", "⭐⭐⭐⭐" or a face emoji, or from the tenant's `rating_replies`
    words and buttons ("Not happy": 1, compared as normalized_reply); None if the reply is not a rating."""
    words = {normalized_reply(k): v for k, v in (custom or {}).items()}
    for candidate in (payload, text):
        value = (candidate or "").strip()
        if not value:
            continue
        if words and (word := normalized_reply(value)) in words:
            return words[word]
        if value in RATING_EMOJI:
            return RATING_EMOJI[value]
        stars = value.replace("\ufe0f", "")
        if stars and set(stars) == {"\u2b50"} and len(stars) <= 5:
            return len(stars)
        head = value.split()[0]
        if head.isdigit() and 1 <= int(head) <= 5 and (len(value.split()) == 1 or value.split()[1].lower().startswith(("star", "estrela", "estrella"))):
            return int(head)
    return None


def matching_rule(text: str | None, rules: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """The first auto-reply rule with a keyword in the text (case-insensitive, whole words)."""
    import re

    lowered = (text or "").lower()
    for rule in rules or []:
        for keyword in rule.get("keywords", []):
            if re.search(rf"(?<!\w){re.escape(keyword.lower())}(?!\w)", lowered):
                return rule
    return None


def in_business_hours(moment: datetime, hours: dict[str, Any] | None) -> bool:
    """True without configured hours; else whether `moment` falls on an open day between start and end."""
    if not hours:
        return True
    from wa_notify.domain.moments import zone_info

    local = moment.astimezone(zone_info(hours.get("timezone") or "UTC"))
    if local.isoweekday() not in hours.get("days", [1, 2, 3, 4, 5]):
        return False
    return bool(hours["start"] <= local.strftime("%H:%M") < hours["end"])
