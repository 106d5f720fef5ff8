"""User profiles: create (name and email non-empty, email well-formed, id unique), partial updates;
views by id and by email."""

from __future__ import annotations

from pydantic import Field, field_validator

from actors import Aggregate, App, Command, DomainError, Event, Projection, Query, answers, applies, handles

EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _clean_name(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("name must not be blank")
    return value.strip() if value is not None else None


class CreateUser(Command):
    encore_target = "user_id"
    user_id: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL, max_length=320)

    _name = field_validator("name")(_clean_name)


class UpdateUser(Command):
    encore_target = "user_id"
    user_id: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=EMAIL, max_length=320)

    _name = field_validator("name")(_clean_name)


class UserCreated(Event):
    user_id: str
    name: str
    email: str


class UserUpdated(Event):
    user_id: str
    name: str | None = None
    email: str | None = None


class User(Aggregate):
    encore_type = "user"

    def __init__(self) -> None:
        self.exists = False
        self.name, self.email = "", ""

    @handles(CreateUser)
    def create(self, c: CreateUser) -> list[Event]:
        if self.exists:
            raise DomainError("user_already_exists", f"user {c.user_id} already exists; user ids are unique")
        return [UserCreated(user_id=c.user_id, name=c.name, email=c.email)]

    @handles(UpdateUser)
    def update(self, c: UpdateUser) -> list[Event]:
        if not self.exists:
            raise DomainError("user_not_found", f"user {c.user_id} does not exist; create it first")
        if c.name is None and c.email is None:
            raise DomainError("nothing_to_update", "give a new name, a new email, or both")
        return [UserUpdated(user_id=c.user_id, name=c.name, email=c.email)]

    @applies(UserCreated)
    def _created(self, e: UserCreated) -> None:
        self.exists, self.name, self.email = True, e.name, e.email

    @applies(UserUpdated)
    def _updated(self, e: UserUpdated) -> None:
        self.name = e.name if e.name is not None else self.name
        self.email = e.email if e.email is not None else self.email


class GetUser(Query):
    user_id: str


class GetUserByEmail(Query):
    email: str


class UserDirectory(Projection):
    encore_name = "user_directory"

    def __init__(self) -> None:
        self.users: dict[str, dict] = {}
        self.by_email: dict[str, str] = {}

    @applies(UserCreated)
    def _created(self, e: UserCreated, stored) -> None:
        self.users[e.user_id] = {"user_id": e.user_id, "name": e.name, "email": e.email}
        self.by_email[e.email.lower()] = e.user_id

    @applies(UserUpdated)
    def _updated(self, e: UserUpdated, stored) -> None:
        user = self.users[e.user_id]
        if e.name is not None:
            user["name"] = e.name
        if e.email is not None:
            self.by_email.pop(user["email"].lower(), None)
            user["email"] = e.email
            self.by_email[e.email.lower()] = e.user_id

    @answers(GetUser)
    def user(self, q: GetUser) -> dict | None:
        return self.users.get(q.user_id)

    @answers(GetUserByEmail)
    def user_by_email(self, q: GetUserByEmail) -> dict | None:
        user_id = self.by_email.get(q.email.lower())
        return self.users.get(user_id) if user_id else None


app = App("users", aggregates=[User], projections=[UserDirectory])
