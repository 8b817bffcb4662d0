"""Template registration, listing, deletion and preview."""

from __future__ import annotations

from wa_notify.domain.jsonsafe import unsafe_numbers
from wa_notify.domain.languages import no_translation_problem, pick_translation
from wa_notify.domain.phone import to_e164
from wa_notify.domain.problems import Conflict, DomainError, Invalid, NotFound, Problem
from wa_notify.domain.records import TemplateRow
from wa_notify.domain.rendering import render
from wa_notify.domain.templates import LANGUAGE_RE, NAME_MAX, NAME_RE, TemplateSpec
from wa_notify.domain.whatsapp_errors import ProviderError
from wa_notify.models import Page, PreviewRequest, PreviewView, TemplateView
from wa_notify.models_templates import TemplateRequest, spec_from_stored
from wa_notify.services.deps import Deps, iso, page
from wa_notify.services.template_lifecycle import SENDABLE
from wa_notify.services.tenants import profile as tenant_profile


class ProviderUnavailable(DomainError):
    status = 502
    title = "WhatsApp did not accept the request"


def view(item: TemplateRow, languages: list[str] | None = None) -> TemplateView:
    # An imported template in a form we cannot send has no parameters we could name.
    variables = [] if item.get("unsupported") else [v.as_dict() for v in spec_from_stored(item).variables]
    return TemplateView.model_validate({
        "name": item["name"],
        "language": item["language"],
        "category": item["category"],
        "parameter_format": item["parameter_format"],
        "status": item["status"],
        "id": item.get("meta_id"),
        "rejection": {"reason": item.get("status_reason"), "detail": item.get("status_detail")} if item["status"] == "REJECTED" else None,
        "parameters": variables,
        "components": item["components"],
        "created_at": item.get("created_at"),
        "quality": item.get("quality"),
        "unsupported": item.get("unsupported"),
        "languages": languages,
        "click_targets": item.get("click_targets"),
    })


def register(deps: Deps, tenant_id: str, payload: TemplateRequest) -> TemplateView:
    spec = payload.spec  # Meta's rules ran when the body was validated
    if unsafe := unsafe_numbers(spec.components, "components"):
        raise Invalid(unsafe)
    store = deps.store
    if spec.category != "AUTHENTICATION":
        _reject_duplicate_wording(deps, tenant_id, spec)
    tenant = tenant_profile(deps, tenant_id)
    from wa_notify.services import clicks

    components, click_targets = clicks.for_registration(deps, tenant_id, spec.components)  # URL buttons via the tracker
    item: TemplateRow = {
        "name": spec.name,
        "language": spec.language,
        "category": spec.category,
        "parameter_format": spec.parameter_format,
        "components": components,
        "status": "PENDING",
        "created_at": iso(deps.now()),
    }
    if click_targets:
        item["click_targets"] = click_targets
    # Stored before Meta is called, so a status webhook that arrives at once finds it.
    if not store.templates.put(tenant_id, item):
        raise Conflict(f"template {spec.name} in {spec.language} exists already: register new wording under another name, "
                       "or edit it in WhatsApp Manager (a deleted template's name is blocked at Meta for 30 days)")
    meta_payload = {
        "name": spec.name,
        "language": spec.language,
        "category": spec.category,
        "parameter_format": spec.parameter_format,
        "components": components,
    }
    try:
        try:
            created = deps.cloud_api.create_template(tenant["waba_id"], meta_payload, deps.whatsapp_token(tenant_id))
        except ProviderError as exc:
            if not exc.token_rejected:
                raise
            # A rotated token: fetch it again and try once more (a refused token created nothing).
            created = deps.cloud_api.create_template(tenant["waba_id"], meta_payload, deps.whatsapp_token(tenant_id, force_fetch=True))
    except ProviderError as exc:
        store.templates.delete(tenant_id, spec.name, spec.language)
        if exc.code is not None and exc.http_status and 400 <= exc.http_status < 500 and exc.code not in (4, 80007):
            raise Invalid([Problem("", f"WhatsApp rejected the template: ({exc.code}) {exc.title} {exc.details or ''}".strip())]) from exc
        raise ProviderUnavailable(f"WhatsApp could not register the template: {exc}") from exc
    store.templates.set_meta(
        tenant_id, spec.name, spec.language, str(created.get("id")), str(created.get("status", "PENDING")).upper(),
        str(created.get("category", spec.category)).upper(),
    )
    stored = store.templates.get(tenant_id, spec.name, spec.language)
    assert stored is not None  # put above, deleted only by the tenant's own DELETE
    return view(stored)


def _reject_duplicate_wording(deps: Deps, tenant_id: str, spec: TemplateSpec) -> None:
    """Meta rejects a template whose body and footer match an existing one (not for AUTHENTICATION)."""
    cursor = None
    while True:
        items, cursor = deps.store.templates.list(tenant_id, limit=100, cursor=cursor)
        for item in items:
            if item["name"] == spec.name or item.get("category") == "AUTHENTICATION":
                continue
            other = spec_from_stored(item)
            if other.body_text.strip() == spec.body_text.strip() and (other.footer_text or "") == (spec.footer_text or ""):
                raise Invalid([Problem("components", f"the body and footer duplicate template {item['name']} ({item['language']})")])
        if not cursor:
            return


def _check_name(name: str, language: str | None) -> None:
    if len(name) > NAME_MAX or not NAME_RE.match(name) or (language is not None and not LANGUAGE_RE.match(language)):
        raise NotFound(f"no template {name[:64]}" + (f" in language {language[:16]}" if language else ""))


def get(deps: Deps, tenant_id: str, name: str, language: str | None) -> TemplateView:
    _check_name(name, language)
    if language:
        item = deps.store.templates.get(tenant_id, name, language)
        if item is None:
            raise NotFound(f"no template {name} in language {language}")
        return view(item)
    items, _ = deps.store.templates.list(tenant_id, name=name, limit=100)
    if not items:
        raise NotFound(f"no template {name}")
    if len(items) > 1:
        # Several translations: answer the first and list the others (clients pass ?language=).
        return view(items[0], languages=[i["language"] for i in items])
    return view(items[0])


def list_all(deps: Deps, tenant_id: str, cursor: str | None, limit: int) -> Page[TemplateView]:
    return Page[TemplateView].model_validate(page(lambda: deps.store.templates.list(tenant_id, limit=limit, cursor=cursor), view))


def delete(deps: Deps, tenant_id: str, name: str, language: str | None) -> None:
    """Delete a template at Meta and here: one translation (`language`), else every one, as Meta's
    own delete by name does. Meta first: a template deleted only here would still send from a
    scheduled message and come back with the next sync. Gone at Meta already is fine; Meta
    unreachable is a 502 and nothing changes here."""
    if language is not None and not language.strip():
        # `?language=` with nothing: not "every translation" by accident
        raise Invalid([Problem("language", "is empty: give the translation to delete (e.g. en_US), or leave language out for all")])
    _check_name(name, language)
    rows = [r for r in deps.store.templates.list(tenant_id, name=name, limit=100)[0] if not language or r["language"] == language]
    if not rows:
        raise NotFound(f"no template {name}" + (f" in language {language}" if language else ""))
    hsm_id = str(rows[0].get("meta_id") or "") if language else None
    if hsm_id != "":  # a translation Meta never gave an id is not at Meta (refusing by name would take them all)
        _delete_at_meta(deps, tenant_id, name, hsm_id)
    deleted = [r["language"] for r in rows if deps.store.templates.delete(tenant_id, name, r["language"])]
    if not deleted:
        raise NotFound(f"no template {name}" + (f" in language {language}" if language else ""))


TEMPLATE_NOT_FOUND = 100  # Meta's code for a delete of a template it does not hold (the subcode says "not found")


def _delete_at_meta(deps: Deps, tenant_id: str, name: str, hsm_id: str | None) -> None:
    tenant = tenant_profile(deps, tenant_id)
    try:
        try:
            deps.cloud_api.delete_template(tenant["waba_id"], name, deps.whatsapp_token(tenant_id), hsm_id=hsm_id)
        except ProviderError as exc:
            if not exc.token_rejected:
                raise
            deps.cloud_api.delete_template(tenant["waba_id"], name, deps.whatsapp_token(tenant_id, force_fetch=True), hsm_id=hsm_id)
    except ProviderError as exc:
        said = f"{exc.title} {exc.details or ''}".lower()
        if exc.code == TEMPLATE_NOT_FOUND and exc.http_status and 400 <= exc.http_status < 500 and "not found" in said:
            return  # not at Meta (deleted there already): delete it here too
        if exc.code is not None and exc.http_status and 400 <= exc.http_status < 500 and exc.code not in (4, 80007):
            # Meta refuses (a DISABLED template cannot be deleted): said, and kept here as at Meta.
            raise Conflict(f"WhatsApp refused to delete the template: ({exc.code}) {exc.details or exc.title}") from exc
        raise ProviderUnavailable(f"WhatsApp could not delete the template: {exc}") from exc


def translations(deps: Deps, tenant_id: str, name: str, *, field: str = "template.name") -> list[str]:
    """The languages template `name` is registered in; 422 naming `field` when it has none."""
    if len(name) > NAME_MAX or not NAME_RE.match(name):
        raise Invalid([Problem(field, f"no template {name[:64]}")])
    languages = [i["language"] for i in deps.store.templates.list(tenant_id, name=name, limit=100)[0]]
    if not languages:
        raise Invalid([Problem(field, f"no template {name}")])
    return languages


def tenant_default_language(deps: Deps, tenant_id: str) -> str | None:
    from wa_notify.services.callbacks import tenant_settings

    value = tenant_settings(deps, tenant_id).get("default_language")
    return value if isinstance(value, str) else None


def language_for(deps: Deps, tenant_id: str, name: str, locale: str | None, *, default: str | None = None,
                 default_from: str = "tenant", field: str = "template", languages: list[str] | None = None) -> tuple[str, str]:
    """(translation, why) for a customer with `locale` (domain/languages.py: the chain), the
    default being `default` (a flow's) else the tenant's; 422 naming `{field}.language` when
    none is usable. One function for messages, flows and campaigns."""
    languages = languages if languages is not None else translations(deps, tenant_id, name, field=f"{field}.name")
    if default is None:
        default, default_from = tenant_default_language(deps, tenant_id), "tenant"
    picked = pick_translation(languages, locale, default, default_from)
    if picked is None:
        raise Invalid([Problem(f"{field}.language", no_translation_problem(name, locale, default, languages))])
    return picked


def load_spec(deps: Deps, tenant_id: str, name: str, language: str, *, field: str = "template",
              sendable: bool = True, name_field: str | None = None) -> tuple[TemplateSpec, TemplateRow]:
    """The template's spec and row; with `sendable`, 409 unless it can be sent now (check_sendable).
    An unknown one is a 422 naming `name_field` (default `{field}.name`: a campaign's is `template`)."""
    name_field = name_field or f"{field}.name"
    if len(name) > NAME_MAX or not NAME_RE.match(name) or not LANGUAGE_RE.match(language):
        raise Invalid([Problem(name_field, f"no template {name[:64]} in language {language[:16]}")])
    # Intake renders every message: the row as read at most 2 s ago in this container (the
    # sender's gate re-reads a status before acting on it), and its spec parsed once per copy.
    item = deps.store.templates.get_recent(tenant_id, name, language)
    if item is None:
        raise Invalid([Problem(name_field, f"no template {name} in language {language}")])
    if sendable:
        check_sendable(item)
    key = (tenant_id, name, language)
    parsed = _parsed_specs.get(key)
    if parsed is None or parsed[0] is not item:
        if len(_parsed_specs) >= PARSED_SPECS_MAX:
            _parsed_specs.clear()
        parsed = _parsed_specs[key] = (item, spec_from_stored(item))
    return parsed[1], item


# (tenant, name, language) -> (the stored row it came from, its spec): parsed again when the row is a new read.
# Bounded as the repository's copies are (adapters/storage/templates.RECENT_MAX; not imported: boto3 stays off this import path).
PARSED_SPECS_MAX = 2_048
_parsed_specs: dict[tuple[str, str, str], tuple[TemplateRow, TemplateSpec]] = {}


def check_sendable(item: TemplateRow) -> None:
    """409 naming why a stored template cannot send now: Meta's status (PAUSED, DISABLED,
    PENDING...) or a form imported from Meta that our renderer cannot send."""
    name, language = item["name"], item["language"]
    if item["status"] not in SENDABLE:
        why = {"PAUSED": "Meta paused it for low quality; it sends again once Meta approves it",
               "DISABLED": "Meta disabled it; register a new template"}.get(item["status"], "only APPROVED templates can be sent")
        raise Conflict(f"template {name} ({language}) is {item['status']}: {why}")
    if item.get("unsupported"):
        raise Conflict(f"template {name} ({language}) was imported from Meta in a form wa-notify cannot send yet: {item['unsupported']}")


def preview(deps: Deps, tenant_id: str, name: str, body: PreviewRequest) -> PreviewView:
    language = body.language
    _check_name(name, language)
    item = deps.store.templates.get(tenant_id, name, language)
    if item is None:
        raise NotFound(f"no template {name} in language {language}")
    if item.get("unsupported"):
        raise Conflict(f"template {name} ({language}) was imported from Meta in a form wa-notify cannot render yet: {item['unsupported']}")
    to = None
    if body.to is not None:
        try:
            to = to_e164(body.to)
        except ValueError as exc:
            raise Invalid([Problem("to", str(exc))]) from exc
    rendered = render(spec_from_stored(item), body.params, body.button_params, to=to)
    return PreviewView.model_validate(rendered.as_dict())
