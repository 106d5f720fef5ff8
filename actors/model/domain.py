"""What a user writes: commands, events, queries, aggregates and projections.

    class Deposit(Command):
        encore_target = "account_id"          # the field that names the aggregate instance
        account_id: str
        amount: PositiveInt

    class Account(Aggregate):
        encore_type = "bank"                   # streams are "bank:<account_id>"
        def __init__(self): self.balance = 0   # the initial state

        @handles(Deposit)
        def deposit(self, c): return [Deposited(account_id=c.account_id, amount=c.amount)]

        @applies(Deposited)
        def _deposited(self, e): self.balance += e.amount

`decide` (a @handles method) never mutates and returns events or raises `DomainError`; `apply`
(an @applies method) never fails. Projections fold events into a view with @applies methods that
also receive the stored event (offset, stream, time...) and answer queries with @answers methods.
Framework attributes carry the `encore_` prefix so they never collide with domain fields.
"""

from __future__ import annotations

import copy
import json
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict

from actors.errors import DomainError as DomainError  # re-exported: users raise it from here


class Command(BaseModel):
    """A request to change one aggregate instance. `encore_target` names its id field.

    Validated strictly: a value of the wrong type is refused, never coerced (`true` is not an
    amount of 1, `"25"` is not 25), since what a ledger is told must be what it records. A
    model (or a field, with `Field(strict=False)`) that wants pydantic's coercion opts out:
    `model_config = ConfigDict(extra="forbid", frozen=True, strict=False)`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    encore_target: ClassVar[str] = "id"

    def encore_aggregate_id(self) -> str:
        return str(getattr(self, self.encore_target))


class Event(BaseModel):
    """A fact an aggregate recorded. Immutable; `encore_schema_version` versions its fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    encore_schema_version: ClassVar[int] = 1


class Query(BaseModel):
    """A read request answered from a projection's view."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def plain_fields(message: BaseModel) -> dict[str, Any]:
    """`message.model_dump(mode="json")`: what travels and what is stored. For a model whose
    fields are all str/int/float/bool (most commands and events) that is a copy of its fields,
    at a tenth of the cost of pydantic's serializer; others go through the serializer."""
    cls = type(message)
    plain = _scalar_models.get(cls)
    if plain is None:
        plain = _scalar_models[cls] = _has_only_scalar_fields(cls)
    if plain:
        return message.__dict__.copy()
    fields: dict[str, Any] = message.__pydantic_serializer__.to_python(message, mode="json")
    return fields


_SCALARS = (str, int, float, bool)
_scalar_models: dict[type, bool] = {}


def _has_only_scalar_fields(model: type[BaseModel]) -> bool:
    """True when dumping `model` in JSON mode gives back its field values unchanged."""
    return _dumps_as_is(model) and all(f.annotation in _SCALARS for f in model.model_fields.values())


def _dumps_as_is(model: type[BaseModel]) -> bool:
    """True when no serializer, computed or excluded field changes what a dump of `model` holds."""
    decorators = model.__pydantic_decorators__
    return (
        not decorators.field_serializers and not decorators.model_serializers
        and not model.model_computed_fields and model.model_config.get("extra") == "forbid"
        and not any(f.exclude for f in model.model_fields.values())
    )


def validator_of(model: type[BaseModel]) -> Callable[[Any], Any]:
    """`model.model_validate`, as pydantic's validator itself (half the cost per call), looked
    up once per model."""
    validate = _validators.get(model)
    if validate is None:
        if not model.__pydantic_complete__:
            model.model_rebuild()
        validate = _validators[model] = model.__pydantic_validator__.validate_python
    return validate


_validators: dict[type, Callable[[Any], Any]] = {}


def parser_of(model: type[BaseModel]) -> Callable[[Any], Any]:
    """How `model` is built from its JSON form (what travels: `plain_fields`, an HTTP body, the
    CLI's fields): strictly, as pydantic validates JSON. A model of str, int, float and bool only
    is validated as it is (its JSON form is its Python form); any other goes through JSON, so a
    date, a Decimal, a UUID, an enum, a tuple or a nested model is taken in its JSON form ("2025-
    01-01", "10.50", an enum's value) and a wrong type is still refused (`true` is no amount)."""
    parse = _parsers.get(model)
    if parse is None:
        validate = validator_of(model)
        if _has_only_scalar_fields(model):
            parse = validate
        else:
            validate_json = model.__pydantic_validator__.validate_json

            def parse(data: Any) -> Any:
                try:
                    text = json.dumps(data, allow_nan=False)
                except (TypeError, ValueError) as e:
                    raise ValueError(f"fields are not JSON data ({e})") from None
                return validate_json(text)
        _parsers[model] = parse
    return parse


_parsers: dict[type, Callable[[Any], Any]] = {}


def stored_validator_of(model: type[BaseModel]) -> Callable[[Any], Any]:
    """How an event is built from its stored data (its JSON form, decided and validated before):
    pydantic's lax mode, so "10.50" is a Decimal again and "2025-01-01" a date, whatever the
    class's own strictness."""
    validate: Callable[..., Any] = validator_of(model)
    if not model.model_config.get("strict"):
        return validate   # lax already
    return lambda data: validate(data, strict=False)


def rebuilder_of(event_type: type[BaseModel]) -> Callable[[dict[str, Any]], Any]:
    """The event of `event_type` from its stored data of the current schema.

    An event was validated when it was decided, and what is stored is what validation produced.
    Where that stored form is already the Python form (every field str, int, float, bool or None,
    or tuples and str-keyed dicts of them; no validators, serializers or private attributes) the event is
    rebuilt around the stored dict without validating it again: about half the cost. Data whose
    field names differ from the class's (a field added or removed since it was written) is
    validated, as is every event of any other class."""
    validate = stored_validator_of(event_type)
    if not _stored_form_is_python_form(event_type):
        return validate
    fields = frozenset(event_type.model_fields)
    new, set_dict = object.__new__, _SLOT_SETTERS["__dict__"]
    set_fields, set_extra, set_private = (_SLOT_SETTERS[name] for name in _PYDANTIC_SLOTS)
    # every field is set; a frozen model never changes its set in place (copies copy it), so its
    # events share one
    shared_fields_set = set(fields) if event_type.model_config.get("frozen") else None

    def rebuild(data: dict[str, Any]) -> Any:
        if data.keys() != fields:
            return validate(data)
        event = new(event_type)
        set_dict(event, data)
        set_fields(event, shared_fields_set or set(fields))
        set_extra(event, None)
        set_private(event, None)
        return event

    return rebuild


_PYDANTIC_SLOTS = ("__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
_SLOT_SETTERS = {name: vars(BaseModel)[name].__set__ for name in ("__dict__", *_PYDANTIC_SLOTS)}
_PLAIN = (str, int, float, bool, type(None))


def _stored_form_is_python_form(model: type[BaseModel]) -> bool:
    decorators = model.__pydantic_decorators__
    return (
        _dumps_as_is(model)
        and not (decorators.validators or decorators.field_validators or decorators.root_validators
                 or decorators.model_validators)
        and not model.__private_attributes__ and model.__pydantic_post_init__ is None
        and all(_is_plain(f.annotation) for f in model.model_fields.values())
    )


def _is_plain(annotation: Any) -> bool:
    """True for str, int, float, bool and None, and unions of them, tuples of them (the log gives
    sequences back as tuples: a list field is validated) and str-keyed dicts of them."""
    if annotation in _PLAIN:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return all(_is_plain(a) for a in args)
    if origin is tuple:
        return len(args) == 2 and args[1] is Ellipsis and args[0] in _PLAIN
    if origin is dict:
        return len(args) == 2 and args[0] is str and args[1] in _PLAIN
    return False


def handles(command_type: type[Command]) -> Callable[..., Any]:
    """Marks an aggregate method as the decider of `command_type`."""
    return _mark("encore_handles", command_type)


def applies(event_type: type[Event]) -> Callable[..., Any]:
    """Marks an aggregate or projection method as what `event_type` does to the state."""
    return _mark("encore_applies", event_type)


def answers(query_type: type[Query]) -> Callable[..., Any]:
    """Marks a projection method as the answer to `query_type` (returns plain data)."""
    return _mark("encore_answers", query_type)


def reacts(event_type: type[Event]) -> Callable[..., Any]:
    """Marks a reactor method as its answer to `event_type`: (event, stored) -> what to send."""
    return _mark("encore_reacts", event_type)


def on_rejected(command_type: type[Command]) -> Callable[..., Any]:
    """Marks a reactor method as its answer to the rejection of a `command_type` it sent:
    (command, rejection code, message, the stored event that caused it) -> what to send."""
    return _mark("encore_rejections", command_type)


def on_accepted(command_type: type[Command]) -> Callable[..., Any]:
    """Marks a reactor method as its answer to the acceptance of a `command_type` it sent:
    (command, its new events as plain dicts, the stored event that caused it) -> what to send."""
    return _mark("encore_acceptances", command_type)


def effect(event_type: type[Event]) -> Callable[..., Any]:
    """Marks a reactor method as a side effect of `event_type` (an email, an HTTP call):
    (event, stored, key) -> None. It runs outside every command handler, at least once per
    event, with `key` the same on every run (reactor and offset: hand it to the outside world as
    an idempotency key); it is retried with backoff when it raises, and parked after a few tries."""
    return _mark("encore_effects", event_type)


def _mark(attribute: str, message_type: type) -> Callable[..., Any]:
    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        setattr(fn, attribute, message_type)
        return fn

    return mark


def _collect(cls: type, attribute: str) -> dict[type, str]:
    """Message type -> method name, for every method of `cls` marked with `attribute`."""
    found: dict[type, str] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            message_type = getattr(value, attribute, None)
            if message_type is not None:
                found[message_type] = name
    return found


class _Stateful:
    """State as plain attributes (override the two snapshot methods for other shapes).

    Each subclass gets its marked methods indexed by message type: `encore_applies`,
    `encore_handles` (aggregates) and `encore_answers` (projections)."""

    encore_applies: ClassVar[dict[type, str]] = {}
    encore_handles: ClassVar[dict[type, str]] = {}
    encore_answers: ClassVar[dict[type, str]] = {}
    encore_reacts: ClassVar[dict[type, str]] = {}
    encore_rejections: ClassVar[dict[type, str]] = {}
    encore_effects: ClassVar[dict[type, str]] = {}
    encore_acceptances: ClassVar[dict[type, str]] = {}
    encore_snapshot_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for marker in ("encore_applies", "encore_handles", "encore_answers", "encore_reacts", "encore_rejections",
                       "encore_effects", "encore_acceptances"):
            setattr(cls, marker, _collect(cls, marker))

    def encore_snapshot(self) -> Any:
        """The state as plain data (msgpack-encodable). The store encodes it at once, in the same
        call, so it may share objects with the live state: no copy is made."""
        return {k: v for k, v in vars(self).items() if not k.startswith("encore_")}

    def encore_restore(self, state: Any) -> None:
        """Set the state from what `encore_snapshot` returned (decoded with lists, not tuples)."""
        for key, value in state.items():
            setattr(self, key, value)


class Aggregate(_Stateful):
    """Domain state and rules of one aggregate instance. `__init__` sets the initial state."""

    encore_type: ClassVar[str]

    def decide(self, command: Command) -> list[Event]:
        handler = getattr(self, self.encore_handles[type(command)])
        events = handler(command)
        return list(events or ())

    def apply(self, event: Event) -> None:
        name = self.encore_applies.get(type(event))
        if name is not None:
            getattr(self, name)(event)

    def encore_appliers(self) -> dict[str, Callable[[Event], None]]:
        return _appliers(self, Aggregate.apply)


class Projection(_Stateful):
    """A read model folded from the log. `__init__` sets the empty view."""

    encore_name: ClassVar[str]

    def apply(self, event: Event, stored: Any) -> None:
        name = self.encore_applies.get(type(event))
        if name is not None:
            getattr(self, name)(event, stored)

    def encore_appliers(self) -> dict[str, Callable[[Event, Any], None]]:
        return _appliers(self, Projection.apply)

    def answer(self, query: Query) -> Any:
        """A copy of what the view says: no caller ever holds the live view."""
        return copy.deepcopy(getattr(self, self.encore_answers[type(query)])(query))


class Deadline(NamedTuple):
    """What a reactor returns to send `command` once `after_s` seconds have passed, unless a
    CancelDeadline with the same key comes first. Pending deadlines are saved with the reactor's
    checkpoint; a deadline fires once, not before its time, across restarts."""

    key: str
    after_s: float
    command: Command


class CancelDeadline(NamedTuple):
    key: str


Reaction = Command | Deadline | CancelDeadline


class Reactor(_Stateful):
    """A process manager: answers events with commands to any aggregate (@reacts methods), the
    outcomes of its own commands with more commands (@on_accepted, @on_rejected methods), and
    runs side effects (@effect methods). It may keep state
    of its own (plain attributes, saved with its checkpoint). `__init__` sets the initial state.
    The commands it sends carry ids derived from (reactor, event offset, index): re-reading an
    event after a crash sends the same ids, and the store applies each once.

    `encore_start` says where a reactor new to a system begins: "beginning" (the default) reacts
    to the whole log, history included; "head" begins at the log's head when it first starts
    (recorded durably), so a reactor added to a system with history does not, say, email every
    customer it ever had."""

    encore_name: ClassVar[str]
    encore_start: ClassVar[str] = "beginning"

    def react(self, event: Event, stored: Any) -> list[Reaction]:
        name = self.encore_reacts.get(type(event))
        return list(getattr(self, name)(event, stored) or ()) if name else []

    def rejected(self, command: Command, code: str, message: str, stored: Any) -> list[Reaction]:
        name = self.encore_rejections.get(type(command))
        return list(getattr(self, name)(command, code, message, stored) or ()) if name else []

    def accepted(self, command: Command, events: list[dict[str, Any]], stored: Any) -> list[Reaction]:
        name = self.encore_acceptances.get(type(command))
        return list(getattr(self, name)(command, events, stored) or ()) if name else []

    def run_effect(self, event: Event, stored: Any, key: str) -> None:
        name = self.encore_effects.get(type(event))
        if name:
            getattr(self, name)(event, stored, key)


def _appliers(instance: Aggregate | Projection, default_apply: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    """Event type name -> what applies it to `instance`, bound once (a replay then skips the
    per-event dispatch of `apply`). A class that overrides `apply` gets every type it handles
    through its own `apply`."""
    handled = type(instance).encore_applies
    if type(instance).apply is not default_apply:
        return {t.__name__: instance.apply for t in handled}
    return {t.__name__: getattr(instance, name) for t, name in handled.items()}
