"""Encore's actor runtime: the programming model, the actor system and the client."""

from actors.model.app import App, load_app
from actors.model.domain import (
    Aggregate,
    CancelDeadline,
    Command,
    Deadline,
    DomainError,
    Event,
    Projection,
    Query,
    Reactor,
    answers,
    applies,
    effect,
    handles,
    on_accepted,
    on_rejected,
    reacts,
)

__all__ = [
    "Aggregate", "App", "CancelDeadline", "Command", "Deadline", "DomainError", "Event", "Projection", "Query",
    "Reactor", "answers", "applies", "effect", "handles", "load_app", "on_accepted", "on_rejected", "reacts",
]
