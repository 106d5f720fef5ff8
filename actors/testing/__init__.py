"""A test kit for your own domain: given these events, when this, then that (see `kit`), and the
pytest plugin with the `encore_system` fixture (`pytest_plugin`)."""

from .kit import (
    AggregateScenario,
    Answer,
    Decision,
    Reaction,
    ReactorScenario,
    ViewScenario,
    given,
    given_reactor,
    given_view,
    store_faults,
    stored_envelope,
)

__all__ = [
    "AggregateScenario", "Answer", "Decision", "Reaction", "ReactorScenario", "ViewScenario", "given",
    "given_reactor", "given_view", "store_faults", "stored_envelope",
]
