"""How the request models word their 422s (models_templates.py, models.py's neighbours): each
model names, per field, what a wrong or missing value means (`_says`) instead of pydantic's
generic wording, and domain problems travel through pydantic with their paths kept."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from wa_notify.domain.problems import Invalid, Problem, path_of

Message = str | Callable[[Any], str]  # a message, or one made from the offending value
RULE = "rule"  # the error type of our own problems: kept as they are by every Worded model
NOT_PRINTABLE = "must be printable characters (no control, zero-width or bidi characters)"


def printable(why: str = "") -> AfterValidator:
    """A text field of printable characters only (str.isprintable), refused as `not_printable`
    with NOT_PRINTABLE and `why`: what the text is matched or listed by (an event's key and type,
    a flow's trigger), which a NUL, a zero-width space or a bidi mark would make unfindable."""

    def check(value: str) -> str:
        if not value.isprintable():
            raise PydanticCustomError("not_printable", NOT_PRINTABLE + why)
        return value

    return AfterValidator(check)


@dataclass(frozen=True)
class Says:
    """What the 422 says about one field: `default` for any problem of its own, `by_type` for
    particular pydantic error types (string_too_long...), `item` for a wrong list item (at
    `field[i]`). Problems deeper inside are reported at the field itself, in these words."""

    default: Message
    by_type: dict[str, Message] = field(default_factory=dict)
    item: Message | None = None


def _words(message: Message, value: Any) -> str:
    return message(value) if callable(message) else message


def _loc(path: str) -> tuple[str | int, ...]:
    """A problem's path as a pydantic location: "components[1].text" -> ("components", 1, "text")."""
    return tuple(int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", path))


def problems_error(title: str, problems: list[Problem], strip: tuple[str | int, ...] = ()) -> ValidationError:
    """Domain problems as one ValidationError (pydantic keeps each location and message when a
    validator raises it); `strip` removes the part of each path the caller's location already has."""
    details = []
    for p in problems:
        loc = _loc(p.field)
        details.append(InitErrorDetails(type=PydanticCustomError(RULE, p.message), loc=loc[len(strip):] if loc[: len(strip)] == strip else loc,
                                        input=None))
    return ValidationError.from_exception_data(title, details)


def invalid(exc: ValidationError) -> Invalid:
    """A model's errors as the domain's Invalid (for callers outside a route: stored rows, the sandbox)."""
    return Invalid([Problem(path_of(tuple(e["loc"])), str(e["msg"]).removeprefix("Value error, ")) for e in exc.errors()])


class Worded(BaseModel):
    """A model whose errors are worded by `_says`: {field: Says}, "" for the body itself and
    "*extra" for an unknown key."""

    # Built on first use, as the API's other request models (models.Strict says why); a
    # subclass's own model_config is merged with this one.
    model_config = ConfigDict(defer_build=True)

    _says: ClassVar[dict[str, Says]] = {}

    @model_validator(mode="wrap")
    @classmethod
    def _in_our_words(cls, data: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            details: list[InitErrorDetails] = []
            seen: set[tuple[Any, ...]] = set()
            for e in exc.errors():
                loc, message = cls._reworded(e)
                if message is None:  # not ours to word: left as pydantic said it, for the model around this one
                    details.append(InitErrorDetails(type=e["type"], loc=loc, input=e.get("input"), ctx=e.get("ctx", {})))
                elif (loc, message) not in seen:
                    seen.add((loc, message))
                    details.append(InitErrorDetails(type=PydanticCustomError(RULE, message), loc=loc, input=e.get("input")))
            raise ValidationError.from_exception_data(cls.__name__, details) from None

    @classmethod
    def _reworded(cls, e: Any) -> tuple[tuple[str | int, ...], str | None]:
        loc, kind, value = tuple(e["loc"]), e["type"], e.get("input")
        if kind == RULE:
            return loc, e["msg"]  # a nested model's own words
        if kind == "extra_forbidden" and "*extra" in cls._says:
            return loc[:1], _words(cls._says["*extra"].default, value)
        says = cls._says.get(str(loc[0]) if loc else "")
        if says is None:
            return loc, None
        if not loc:
            return (), _words(says.default, value)
        if says.item is not None and len(loc) > 1 and isinstance(loc[1], int):
            return loc[:2], _words(says.item, value)
        if len(loc) == 1 and kind in says.by_type:
            return loc[:1], _words(says.by_type[kind], value)
        return loc[:1], _words(says.by_type.get(kind, says.default), value)
