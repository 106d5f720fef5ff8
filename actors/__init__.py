"""Encore's actor runtime: the programming model, the actor system and the client."""

from .app import App, load_app
from .domain import Aggregate, Command, DomainError, Event, Projection, Query, answers, applies, handles

__all__ = [
    "Aggregate", "App", "Command", "DomainError", "Event", "Projection", "Query",
    "answers", "applies", "handles", "load_app",
]
