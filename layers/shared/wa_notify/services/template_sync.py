"""Import the templates a platform already has at Meta (POST /v1/templates/sync, onboarding).

Every template of each of the tenant's WABAs is read (`GET /{waba}/message_templates`, Meta's
cursor paging until `paging.next` is gone; a run that would outlast the API function answers
`complete: false` with `next`, and the same call with `?cursor=<next>` carries on) and stored as Meta holds it: status, category,
quality, components, parameter format and Meta's id. Each template is one conditional write
(adapters/storage/templates.import_one), so a re-run imports nothing new, and a failure half
way keeps what was stored before it: the 502 says Meta's code and how far the import got.
A template in a form our renderer cannot send is stored too, with `unsupported` saying why,
so a send of it is a clear 409 and the listing still shows it.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from wa_notify.domain.problems import DomainError, Invalid, Problem
from wa_notify.domain.records import TemplateRow
from wa_notify.domain.templates import LANGUAGE_RE, NAME_MAX, NAME_RE
from wa_notify.domain.whatsapp_errors import ProviderError
from wa_notify.models_views import TemplateSyncView
from wa_notify.observability import logger, metrics
from wa_notify.services.deps import Deps, iso
from wa_notify.services.tenants import profile as tenant_profile

PAGE_LIMIT = 100
MAX_PAGES = 200  # 20,000 templates: Meta allows at most 6,000 per WABA, so only a cursor loop stops here
BUDGET_S = 6.0  # then answer with `next`: the API function has 10 s, and a WABA may hold 6,000 templates


class SyncFailed(DomainError):
    """Meta refused or failed part way: 502 with Meta's code and how far the import got."""

    status = 502
    title = "WhatsApp did not answer the template list"

    def __init__(self, detail: str, extensions: dict[str, Any]) -> None:
        super().__init__(detail)
        self.extensions = extensions


def from_meta(raw: Any, at: str) -> TemplateRow | None:
    """One item of Meta's list as our row; None for an item without a usable name or language."""
    from wa_notify.models_templates import spec_from_stored

    if not isinstance(raw, dict):
        return None
    name, language = raw.get("name"), raw.get("language")
    if not isinstance(name, str) or not isinstance(language, str) or len(name) > NAME_MAX or not NAME_RE.match(name) \
            or not LANGUAGE_RE.match(language):
        return None
    quality = raw.get("quality_score")
    quality = quality.get("score") if isinstance(quality, dict) else quality
    reason = raw.get("rejected_reason")
    listed = raw.get("components")
    components: list[dict[str, Any]] = listed if isinstance(listed, list) else []
    row: TemplateRow = {
        "name": name,
        "language": language,
        "category": str(raw.get("category") or "").upper(),
        "parameter_format": str(raw.get("parameter_format") or "POSITIONAL").upper(),
        "components": components,
        "status": str(raw.get("status") or "PENDING").upper(),
        "meta_id": str(raw.get("id") or ""),
        "quality": str(quality).upper() if isinstance(quality, str) else None,
        "status_reason": str(reason) if isinstance(reason, str) and reason.upper() != "NONE" else None,
        "unsupported": None,
        "created_at": at,
    }
    try:
        spec_from_stored(row)  # read back as sends read it: Meta's creation rules (examples...) are not judged again
    except Invalid as exc:
        row["unsupported"] = "; ".join(f"{p.field or 'template'}: {p.message}" for p in exc.problems[:3])
    return row


def wabas(deps: Deps, tenant_id: str) -> list[tuple[str, str | None]]:
    """The tenant's WhatsApp Business Accounts, each with a number of it whose token reads it (None:
    the tenant's own token): its default WABA, and those of numbers added from other businesses."""
    out: dict[str, str | None] = {tenant_profile(deps, tenant_id)["waba_id"]: None}
    for number in deps.store.numbers.list(tenant_id):
        if number.get("waba_id") and number["waba_id"] not in out:
            out[number["waba_id"]] = number["phone_number_id"]
    return list(out.items())


def sync(deps: Deps, tenant_id: str, cursor: str | None = None) -> TemplateSyncView:
    """One run: every page of every WABA, or as many as fit in BUDGET_S (then `complete` false and
    `next`: the same call with ?cursor=<next> carries on where this one stopped)."""
    started = time.monotonic()
    accounts = wabas(deps, tenant_id)
    first, after = _decode(cursor, len(accounts))
    counts = {"imported": 0, "updated": 0, "unchanged": 0}
    changed: list[TemplateRow] = []
    known = _stored(deps, tenant_id)  # one read of what is stored: a re-run writes nothing
    pages = 0
    for index in range(first, len(accounts)):
        waba_id, pnid = accounts[index]
        after = after if index == first else None
        for _ in range(MAX_PAGES):
            if pages and time.monotonic() - started > BUDGET_S:
                return _view(deps, tenant_id, counts, changed, pages, _encode(index, after))
            try:
                page = _page(deps, tenant_id, waba_id, pnid, after)
            except ProviderError as exc:
                raise _failed(exc, waba_id, pages, counts, _encode(index, after)) from exc
            pages += 1
            at = iso(deps.now())
            for raw in page["data"]:
                row = from_meta(raw, at)
                if row is None:
                    logger.warning("template from Meta skipped: no usable name or language", extra={"waba_id": waba_id})
                    continue
                outcome = deps.store.templates.import_one(tenant_id, row, at, known.get((row["name"], row["language"])))
                counts[outcome] += 1
                if outcome != "unchanged":
                    changed.append(row)
            after = _next_cursor(page)
            if after is None:
                break
    return _view(deps, tenant_id, counts, changed, pages, None)


def _view(deps: Deps, tenant_id: str, counts: dict[str, int], changed: list[TemplateRow], pages: int, nxt: str | None) -> TemplateSyncView:
    from wa_notify.services.templates import view

    metrics.add_metric(name="TemplatesImported", unit="Count", value=counts["imported"])
    logger.info("templates synced from Meta", extra={**counts, "pages": pages, "complete": nxt is None})
    stored = [deps.store.templates.get(tenant_id, r["name"], r["language"]) for r in changed]
    return TemplateSyncView.model_validate({**counts, "items": [view(s) for s in stored if s is not None],
                                            "complete": nxt is None, "next": nxt})


def _stored(deps: Deps, tenant_id: str) -> dict[tuple[str, str], TemplateRow]:
    out: dict[tuple[str, str], TemplateRow] = {}
    cursor = None
    while True:
        items, cursor = deps.store.templates.list(tenant_id, limit=1000, cursor=cursor)
        out |= {(i["name"], i["language"]): i for i in items}
        if not cursor:
            return out


def _encode(index: int, after: str | None) -> str:
    return base64.urlsafe_b64encode(json.dumps({"w": index, "a": after}, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(cursor: str | None, accounts: int) -> tuple[int, str | None]:
    """(WABA index, Meta's `after` cursor) of a `next` this endpoint gave; 422 for anything else."""
    if not cursor:
        return 0, None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        index, after = data["w"], data["a"]
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < accounts or not isinstance(after, (str, type(None))):
            raise ValueError
        return index, after
    except (ValueError, KeyError, TypeError) as exc:
        raise Invalid([Problem("cursor", "is not a `next` this endpoint answered")]) from exc


def _page(deps: Deps, tenant_id: str, waba_id: str, pnid: str | None, after: str | None, name: str | None = None) -> dict[str, Any]:
    try:
        return deps.cloud_api.list_templates(waba_id, deps.whatsapp_token(tenant_id, phone_number_id=pnid), after=after,
                                             limit=PAGE_LIMIT, name=name)
    except ProviderError as exc:
        if not exc.token_rejected:
            raise
        # A rotated token: fetch it again and try once more (a refused token read nothing).
        token = deps.whatsapp_token(tenant_id, phone_number_id=pnid, force_fetch=True)
        return deps.cloud_api.list_templates(waba_id, token, after=after, limit=PAGE_LIMIT, name=name)


def refresh_one(deps: Deps, tenant_id: str, waba_id: str, name: str, language: str) -> str | None:
    """Meta's copy of one template translation, read again and stored as a sync stores it (a
    template webhook said its components changed, or named one we do not hold yet): `imported`,
    `updated`, `unchanged`, or None when Meta lists no such translation. Meta unreachable raises
    (the webhook then answers 5xx and Meta delivers it again)."""
    pnid = dict(wabas(deps, tenant_id)).get(waba_id)
    after = None
    for _ in range(MAX_PAGES):
        page = _page(deps, tenant_id, waba_id, pnid, after, name=name)
        at = iso(deps.now())
        for raw in page["data"]:
            row = from_meta(raw, at)
            if row is not None and row["name"] == name and row["language"] == language:
                return deps.store.templates.import_one(tenant_id, row, at, deps.store.templates.get(tenant_id, name, language))
        after = _next_cursor(page)
        if after is None:
            return None
    return None


def _next_cursor(page: dict[str, Any]) -> str | None:
    """Meta's `paging.cursors.after`, only while `paging.next` says more remain."""
    paging = page.get("paging")
    paging = paging if isinstance(paging, dict) else {}
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if paging.get("next") and isinstance(after, str) and after else None


def _failed(exc: ProviderError, waba_id: str, pages: int, counts: dict[str, int], nxt: str) -> SyncFailed:
    done = sum(counts.values())
    metrics.add_metric(name="TemplateSyncFailed", unit="Count", value=1)
    logger.warning("template sync stopped by Meta", extra={"code": exc.code, "waba_id": waba_id, "pages": pages, "templates": done})
    advice = {190: "the access token was refused: store a new one (admin set-token), then sync again",
              4: "Meta is rate limiting this app: sync again later", 80008: "Meta is rate limiting this WABA: sync again later"}
    detail = (f"WhatsApp answered ({exc.code}) {exc.title} while listing the templates of WABA {waba_id}, after {pages} page(s): "
              f"{done} template(s) were stored before it and stay; " + advice.get(exc.code or 0, "sync again to continue"))
    return SyncFailed(detail, {
        "meta_error": {"code": exc.code, "title": exc.title, "details": exc.details, "http_status": exc.http_status},
        "progress": {"waba_id": waba_id, "pages": pages, "templates": done, **counts, "next": nxt},
    })
