"""pydantic models of the two bodies that used to be validated by hand: a template (Meta's own
template-creation JSON, POST /v1/templates) and a flow (PUT /v1/flows/{name}).

The models give the shape (JSON types, enums, lengths) and its OpenAPI schema; the rules that
relate the parts stay pure in the domain (domain/templates.py, domain/flows.py). Every problem
keeps the message and the field path its 422 always had: each model names, per field, what a
wrong or missing value means (`_says`, models_worded.py), instead of pydantic's generic wording.

Templates are judged whole inside the model (the component rules run as the `components`
validator, beside the other fields' errors), so one 422 lists every problem. A flow's rules
run after the model, in the service, because they are listed together with the template
references it checks in the store (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from wa_notify.domain import flows as flow_rules
from wa_notify.domain import moments
from wa_notify.domain import templates as rules
from wa_notify.domain.languages import known_language
from wa_notify.domain.problems import ProblemList
from wa_notify.domain.rendering import unreadable_text
from wa_notify.domain.template_buttons import KNOWN_BUTTON_TYPES
from wa_notify.domain.template_text import NESTED_ARRAY
from wa_notify.models_worded import NOT_PRINTABLE, Says, Worded, invalid, printable, problems_error


def _upper(value: Any) -> Any:
    """Meta takes its enums in any casing (`utility`, `body`); they are stored upper-case."""
    return value.upper() if isinstance(value, str) else value


def _upper_or_none(value: Any) -> Any:
    return _upper(value) or None


Upper = BeforeValidator(_upper)


# ---- templates -------------------------------------------------------------------------------------

class NamedExample(Worded):
    model_config = ConfigDict(extra="allow")

    param_name: str
    example: str


NAMED_ITEM = "must be {param_name, example} with string values"


class ComponentExample(Worded):
    """`example` of a HEADER or BODY: values for its variables, or a media header's handle."""

    model_config = ConfigDict(extra="allow")
    _says = {
        "header_text": Says("an example string is required for each variable"),
        "body_text": Says("an example string is required for each variable", {"list_type": NESTED_ARRAY}),
        "header_text_named_params": Says("a {param_name, example} entry is required for each variable", item=NAMED_ITEM),
        "body_text_named_params": Says("a {param_name, example} entry is required for each variable", item=NAMED_ITEM),
        "header_handle": Says("a media handle is required: a list of handle strings"),
    }

    header_text: list[str] | None = Field(default=None, description="POSITIONAL header: one example value")
    body_text: list[list[str]] | None = Field(default=None, description='POSITIONAL body: [["value1", "value2"]]')
    header_text_named_params: list[NamedExample] | None = None
    body_text_named_params: list[NamedExample] | None = None
    header_handle: list[str] | None = Field(default=None, description="media headers: the handle of an uploaded sample")


class TemplateButton(Worded):
    """One button of a BUTTONS component; other keys Meta defines (otp_type, flow_id...) are passed on."""

    model_config = ConfigDict(extra="allow")
    _says = {
        "type": Says(f"must be one of {', '.join(KNOWN_BUTTON_TYPES)}"),
        "text": Says("a button label is required"),
        "url": Says("is required"),
        "phone_number": Says("is required"),
        "example": Says("an example is required: a string or a list of strings"),
    }

    type: Annotated[Literal[KNOWN_BUTTON_TYPES], Upper]  # type: ignore[valid-type]
    text: str | None = None
    url: str | None = Field(default=None, description="URL buttons; may end with one variable")
    phone_number: str | None = None
    example: str | list[str] | None = Field(default=None, description="a URL variable's example, or a COPY_CODE code")


class TemplateComponent(Worded):
    """One of HEADER, BODY, FOOTER, BUTTONS (Meta's component object); unknown keys are passed on."""

    model_config = ConfigDict(extra="allow")
    _says = {
        "type": Says("must be HEADER, BODY, FOOTER or BUTTONS"),
        "format": Says(f"must be one of {', '.join(rules.HEADER_FORMATS)}"),
        "text": Says("is required"),
        "example": Says("an example is required for every variable"),
        "buttons": Says("is required: a list of 1 to 10 buttons", item="must be an object"),
    }

    type: Annotated[Literal[rules.COMPONENT_TYPES], Upper]  # type: ignore[valid-type]
    format: Annotated[Literal[rules.HEADER_FORMATS] | None, BeforeValidator(_upper_or_none)] = Field(  # type: ignore[valid-type]
        default=None, description="HEADER only (default TEXT)")
    text: str | None = None
    example: ComponentExample | None = None
    buttons: list[TemplateButton] | None = None


class CheckedComponents(list[TemplateComponent]):
    """The components, with what the rules found in them: the spec is built from that, not by
    running the rules again (they are most of a template's validation time)."""

    def __init__(self, components: list[TemplateComponent], parts: rules.Components) -> None:
        super().__init__(components)
        self.parts = parts


class TemplateRequest(Worded):
    """Meta's template-creation JSON, as Meta takes it (POST /v1/templates). Other top-level
    keys are ignored: only these five are stored and sent to Meta."""

    _says = {
        "": Says("the body must be a JSON object (Meta's template-creation JSON)"),
        "name": Says("is required", {"string_too_long": lambda v: f"is {len(v)} characters; at most {rules.NAME_MAX} allowed",
                                     "string_pattern_mismatch": "may contain only lowercase letters, digits and underscores"}),
        "language": Says("is required", {
            "string_pattern_mismatch": lambda v: f"{v!r} is not a WhatsApp language code such as en, en_US or pt_BR",
            "unknown_language": lambda v: f"{v!r} is not a language Meta accepts for templates (codes such as en, en_US, pt_BR, fil, zh_HK)"}),
        "category": Says(f"must be one of {', '.join(rules.CATEGORIES)}"),
        "parameter_format": Says("must be NAMED or POSITIONAL"),
        "components": Says("is required: a list with at least a BODY component", item="must be an object"),
    }

    name: str = Field(min_length=1, max_length=rules.NAME_MAX, pattern=rules.NAME_RE.pattern)
    language: str = Field(min_length=1, pattern=rules.LANGUAGE_RE.pattern, description="e.g. en, en_US, pt_BR, es_419")
    category: Annotated[Literal[rules.CATEGORIES], Upper]  # type: ignore[valid-type]
    # Checked before `components`, whose rules depend on it (a missing one is POSITIONAL, as at Meta).
    parameter_format: Annotated[Literal[rules.PARAMETER_FORMATS], BeforeValidator(lambda v: _upper(v or "POSITIONAL"))] = "POSITIONAL"  # type: ignore[valid-type]
    components: list[TemplateComponent] = Field(min_length=1)

    _spec: rules.TemplateSpec | None = PrivateAttr(default=None)

    @field_validator("language")
    @classmethod
    def _known_language(cls, language: str, info: ValidationInfo) -> str:
        # Meta refuses a code outside its list; a stored one (imported from Meta) is Meta's own.
        if not (info.context and info.context.get("stored")) and not known_language(language):
            raise PydanticCustomError("unknown_language", "unknown language")
        return language

    @field_validator("components")
    @classmethod
    def _meta_rules(cls, components: list[TemplateComponent], info: ValidationInfo) -> list[TemplateComponent]:
        # The fields above that passed are in info.data; a wrong category applies no category rule.
        stored = bool(info.context and info.context.get("stored"))
        parts, problems = rules.check_components(components, info.data.get("parameter_format", "POSITIONAL"), info.data.get("category"),
                                                 stored=stored)
        if problems:
            raise problems_error(cls.__name__, problems.items, strip=("components",))
        return CheckedComponents(components, parts)

    @model_validator(mode="after")
    def _normalized(self) -> TemplateRequest:
        parts = self.components.parts if isinstance(self.components, CheckedComponents) else None
        self._spec = rules.build_spec(self.name, self.language, self.category, self.parameter_format, self.components, parts)
        return self

    @property
    def spec(self) -> rules.TemplateSpec:
        assert self._spec is not None  # set by validation
        return self._spec


def validate_template(payload: Any, *, stored: bool = False) -> rules.TemplateSpec:
    """Meta's template-creation JSON -> its normalized spec, or Invalid listing every problem
    (`stored`: read back from the store, so judged by the rules it was registered under)."""
    try:
        return TemplateRequest.model_validate(payload, context={"stored": stored}).spec
    except ValidationError as exc:
        raise invalid(exc) from None


def spec_from_stored(item: Mapping[str, Any]) -> rules.TemplateSpec:
    """Rebuild a spec from the stored registration JSON (it was valid when stored)."""
    return validate_template({k: item[k] for k in ("name", "language", "category", "parameter_format", "components")}, stored=True)


# ---- flows -----------------------------------------------------------------------------------------

# Printable, as POST /v1/events' `type` is: a trigger with a NUL or a zero-width space would wait
# for an event nobody can see or type.
EventType = Annotated[str, Field(min_length=1, max_length=flow_rules.EVENT_TYPE_MAX, pattern=r"\S"), printable()]
EVENT_TYPES = (f"must be a list of at most {flow_rules.EVENT_TYPES_MAX} event types of 1 to {flow_rules.EVENT_TYPE_MAX} printable "
               "characters (no control, zero-width or bidi characters)")
PRIORITY = "must be high, normal or bulk"
Priority = Literal["high", "normal", "bulk"]


def _zone(value: str | None) -> str | None:
    if value is not None and not moments.valid_zone(value):
        raise ValueError("unknown zone")
    return value


class QuietHoursRequest(Worded):
    _says = {
        "": Says('must be {"start": "21:00", "end": "08:00", "timezone"?}'),
        "start": Says("must be HH:MM (24 h)"),
        "end": Says("must be HH:MM (24 h)"),
        "timezone": Says(lambda v: f"{v!r} is not an IANA time zone such as Asia/Taipei"),
    }

    start: str = Field(pattern=flow_rules.CLOCK_RE.pattern, description="local time the quiet period starts, e.g. 21:00")
    end: str = Field(pattern=flow_rules.CLOCK_RE.pattern, description="local time it ends, e.g. 08:00")
    timezone: Annotated[str | None, AfterValidator(_zone)] = Field(
        default=None, max_length=moments.ZONE_MAX, description="the recipient's zone when the event gives none")

    @model_validator(mode="after")
    def _some_quiet(self) -> QuietHoursRequest:
        if self.start == self.end:  # all night or never: neither is what equal times say
            raise ValueError("start and end are the same time: give the quiet period, e.g. 21:00 to 08:00")
        return self


class TemplateChoice(BaseModel):
    name: str = Field(min_length=1)
    language: str | None = Field(default=None, description="default: the flow's language")


class StepTime(BaseModel):
    """When a timed step goes: `before` or `after` a date-time of the event's data, by `offset`
    (checked with the step, in domain/flows.py, so the 422 also names the missing templates)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    before: str | None = Field(default=None, description="the data field holding the date-time")
    after: str | None = None
    # Any JSON here: domain/flows.py checks it with the step, so a wrong one is named at `at.offset`.
    offset: Annotated[Any, WithJsonSchema({"anyOf": [
        {"type": "string", "description": "ISO 8601 duration with fixed units, e.g. PT24H, P3D (default PT0S)"},
        {"type": "object", "properties": {"field": {"type": "string", "description": "the event data field holding the duration, e.g. revisit_after"}},
         "required": ["field"], "additionalProperties": False},
    ]})] = Field(default=None, description='a fixed duration, or {"field": "<data field>"} whose value (e.g. "P42D") each event gives')


class StepRequest(Worded):
    model_config = ConfigDict(extra="forbid")
    _says = {
        "*extra": Says("is not a step field"),
        "template": Says("is required: a template name or {name, language}"),
        "at": Says(flow_rules.AT_SHAPE),
        "on": Says("must be trigger, reschedule or always"),
        "priority": Says(PRIORITY),
        "params": Says("maps template variables (or button indexes) to data field names"),
        "button_params": Says("maps template variables (or button indexes) to data field names"),
        "urgent": Says("must be true or false"),
        "description": Says("must be text"),
    }

    template: Annotated[str, Field(min_length=1)] | TemplateChoice
    at: Literal["now"] | StepTime = "now"
    urgent: StrictBool = Field(default=False, description="keeps its time in quiet hours")
    on: Literal["trigger", "reschedule", "always"] = Field(default="trigger", description="reschedule: a change notice, sent only then")
    priority: Priority | None = None
    params: Annotated[dict[str, Annotated[str, Field(min_length=1)]] | None, BeforeValidator(lambda v: v or None)] = Field(
        default=None, description="template variable -> data field")
    button_params: Annotated[dict[str, Annotated[str, Field(min_length=1)]] | None, BeforeValidator(lambda v: v or None)] = Field(
        default=None, description="URL button index -> data field")
    description: str | None = None


ACK_TEXT = (f"must be the text the customer reads: 1 to {flow_rules.ACK_TEXT_MAX} characters, not blank, "
            "no control characters but line breaks")


def _ack_text(value: str) -> str:
    if unreadable_text(value):
        raise ValueError(ACK_TEXT)
    return value


AckText = Annotated[str, Field(min_length=1, max_length=flow_rules.ACK_TEXT_MAX), AfterValidator(_ack_text)]


class AcknowledgeRequest(Worded):
    """The free-form text that answers a customer's tap on one of the flow's messages, by action."""

    model_config = ConfigDict(extra="forbid")
    _says = {
        "*extra": Says("is not an action a tap can take: acknowledge confirm, cancel or reschedule"),
        "confirm": Says(ACK_TEXT),
        "cancel": Says(ACK_TEXT),
        "reschedule": Says(ACK_TEXT),
    }

    confirm: AckText | None = Field(default=None, description="sent when the customer confirms (e.g. taps Confirm)")
    cancel: AckText | None = Field(default=None, description="sent when the customer's tap cancelled the booking")
    reschedule: AckText | None = Field(default=None, description="sent when the customer asks to change the time")

    @model_validator(mode="after")
    def _some_text(self) -> AcknowledgeRequest:
        if self.confirm is None and self.cancel is None and self.reschedule is None:
            raise ValueError("names no action")
        return self


class FlowRequest(Worded):
    """PUT /v1/flows/{name}: what an event starts, cancels or re-plans, and its steps."""

    model_config = ConfigDict(extra="forbid")
    _says = {
        "": Says("the body must be a JSON object"),
        "*extra": Says("is not a flow field"),
        "trigger": Says("is required: the event type that starts this flow",
                        {"string_too_long": f"an event type is at most {flow_rules.EVENT_TYPE_MAX} characters",
                         "not_printable": NOT_PRINTABLE}),
        "cancel_on": Says(EVENT_TYPES),
        "reschedule_on": Says(EVENT_TYPES),
        "language": Says("must be a template language code such as en or pt_BR",
                         {"unknown_language": lambda v: f"{v!r} is not a language Meta accepts for templates (codes such as en, en_US, pt_BR)"}),
        "default_language": Says("must be a template language code such as en or pt_BR",
                                 {"unknown_language": lambda v: f"{v!r} is not a language Meta accepts for templates (codes such as en, en_US, pt_BR)"}),
        "priority": Says(PRIORITY),
        "quiet_hours": Says('must be {"start": "21:00", "end": "08:00", "timezone"?}'),
        "steps": Says("is required: at least one step", {"too_long": "at most 20 steps"}, item="must be an object"),
        "acknowledge": Says('must be {"confirm"?, "cancel"?, "reschedule"?: "<text>"} with at least one action'),
        "description": Says("must be text"),
    }

    trigger: Annotated[str, printable()] = Field(
        max_length=flow_rules.EVENT_TYPE_MAX, pattern=r"\S", description="the event type that starts this flow")
    cancel_on: list[EventType] | None = Field(default=None, max_length=flow_rules.EVENT_TYPES_MAX)
    reschedule_on: list[EventType] | None = Field(default=None, max_length=flow_rules.EVENT_TYPES_MAX)
    language: str | None = Field(default=None, description="the steps' template language, unless a step names its own; "
                                 "omit it to let each contact's locale pick the translation")
    default_language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$",
                                         description="without a language: the translation when the contact's locale matches none")
    priority: Annotated[Priority, BeforeValidator(lambda v: v or "normal")] = "normal"
    quiet_hours: QuietHoursRequest | None = None
    steps: list[StepRequest] = Field(min_length=1, max_length=20)
    acknowledge: AcknowledgeRequest | None = Field(default=None, description=(
        "text answering a customer's tap on the flow's messages, once the action is applied (free: inside the window the tap opened)"))
    description: str | None = None

    @field_validator("language", "default_language")
    @classmethod
    def _known_language(cls, language: str | None) -> str | None:
        # Named here, not as "no template X in language zz_ZZ" on every step.
        if language is not None and not known_language(language):
            raise PydanticCustomError("unknown_language", "unknown language")
        return language


def parse_flow(name: str, body: Any, problems: ProblemList | None = None) -> flow_rules.Flow:
    """A flow's JSON -> the planned Flow, or Invalid listing every problem (stored flows, tests)."""
    try:
        model = FlowRequest.model_validate(body)
    except ValidationError as exc:
        raise invalid(exc) from None
    return flow_rules.validate_flow(name, model, problems)
