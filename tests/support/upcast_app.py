"""An app whose event changed shape: `Renamed` schema 1 had `name`, schema 2 has `full_name`
(an upcaster lifts the old records), for the tests of how events are read back."""

from actors import Aggregate, App, Command, Event, applies, handles


class Renamed(Event):
    encore_schema_version = 2
    full_name: str


class Rename(Command):
    encore_target = "person_id"
    person_id: str
    full_name: str


class Person(Aggregate):
    encore_type = "person"

    def __init__(self) -> None:
        self.name = ""

    @handles(Rename)
    def rename(self, c):
        return [Renamed(full_name=c.full_name)]

    @applies(Renamed)
    def _renamed(self, e):
        self.name = e.full_name


app = App("people", aggregates=[Person])
app.registry.register_upcaster("Renamed", 1, lambda data: {"full_name": data.pop("name")})
