"""Fields of commands and queries given as text (`field=value` on the command line, query
parameters over HTTP), typed by the model they are for."""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import uuid
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from actors.errors import ValidationFailed


def parse_fields(pairs: list[str], model: type[BaseModel] | None = None, *, fields_json: str | None = None
                 ) -> dict[str, Any]:
    """`field=value` pairs as a command's or query's fields. A field the model types as text
    keeps its value as written (`task_id=1` is the string "1"); any other value is read as JSON
    when it parses (numbers, true, lists, objects) and left as text when not, for the model's
    own validation to judge. `fields_json`, a JSON object, gives fields (nested ones too) first."""
    fields: dict[str, Any] = _json_object(fields_json) if fields_json else {}
    declared = model.model_fields if model is not None else {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ValidationFailed(f"argument {pair!r} must look like field=value")
        field = declared.get(name)
        fields[name] = raw if field is not None and _wants_text(field.annotation) else _json_or_text(raw)
    return fields


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ValidationFailed(f"--fields is not valid JSON ({str(e)[:100]}); give a JSON object") from None
    if not isinstance(value, dict):
        raise ValidationFailed(f"--fields must be a JSON object, not {type(value).__name__}")
    return value


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw
    except RecursionError:
        raise ValidationFailed(f"value {raw[:40]!r}... nests too deeply to read") from None


_TEXT_IN_JSON = (decimal.Decimal, datetime.date, datetime.datetime, datetime.time, datetime.timedelta, uuid.UUID)


def _wants_text(annotation: Any) -> bool:
    """Whether a field of this type takes text as written: str (constrained too), a type whose
    JSON form is text (a Decimal keeps "10.50" as written, a date, a UUID, an enum of strings), a
    Literal of strings, or an optional of those."""
    if annotation is str or annotation in _TEXT_IN_JSON:
        return True
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return all(isinstance(member.value, str) for member in annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return all(isinstance(a, str) for a in args)
    if origin is Annotated:
        return _wants_text(args[0])
    if origin in (Union, UnionType):
        real = [a for a in args if a is not type(None)]
        return bool(real) and all(_wants_text(a) for a in real)
    return False
