"""User profiles: create (name and email non-empty, email well-formed, id unique), partial updates;
views by id and by email; every email held by one user at most; a welcome email to each new user.

Unique emails are a rule over a set of users, which no one user aggregate can see. They are kept
the event-sourced way, with a claim per email (an `EmailClaim` aggregate whose stream is the
normalized address: `email:ann@x.test`) and the `email_claims` reactor:

    UserCreated / UserUpdated with an email -> ClaimEmail (the user's version goes with it)
    ClaimEmail accepted                      -> ReleaseEmail of the address the user held before
    ClaimEmail rejected (email_taken)        -> MarkEmailTaken: the user's email is flagged taken

A claim is one aggregate, so of any number of users claiming one address at once exactly one
wins. The email index (`GetUserByEmail`) is folded from the claims, so it never names two users.
The check follows the command by milliseconds: a sign-up form asks `GetUserByEmail` first for a
quick answer, and the claim settles the races that check cannot see.

The `user_welcome` reactor sends each user created from now on a welcome email by SMTP (see
`examples/mail.py`).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from actors import (
    Aggregate,
    App,
    Command,
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

from .mail import send_email

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


class MarkEmailTaken(Command):
    """The email claim saga -> user: the address the user asked for belongs to another user."""

    encore_target = "user_id"
    user_id: str = Field(min_length=1, max_length=100)
    email: str


class UserEmailTaken(Event):
    user_id: str
    email: str


def normalized(email: str) -> str:
    """The form two addresses that reach one mailbox share (as far as Encore can tell)."""
    return email.strip().lower()


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

    @handles(MarkEmailTaken)
    def mark_taken(self, c: MarkEmailTaken) -> list[Event]:
        if normalized(self.email) != c.email:   # the user has moved on to another address since
            return []
        return [UserEmailTaken(user_id=c.user_id, email=c.email)]

    @applies(UserCreated)
    def _created(self, e: UserCreated) -> None:
        self.exists, self.name, self.email = True, e.name, e.email

    @applies(UserUpdated)
    def _updated(self, e: UserUpdated) -> None:
        self.name = e.name if e.name is not None else self.name
        self.email = e.email if e.email is not None else self.email


# ---------------------------------------------------------------- one claim per email address


class ClaimEmail(Command):
    encore_target = "email"
    email: str = Field(min_length=1, max_length=320)   # normalized
    user_id: str = Field(min_length=1, max_length=100)
    version: int = Field(ge=1)   # of the user's stream: which of the user's addresses is the latest


class ReleaseEmail(Command):
    encore_target = "email"
    email: str = Field(min_length=1, max_length=320)
    user_id: str = Field(min_length=1, max_length=100)


class EmailClaimed(Event):
    email: str
    user_id: str


class EmailReleased(Event):
    email: str
    user_id: str


class EmailClaim(Aggregate):
    encore_type = "email"

    def __init__(self) -> None:
        self.owner: str | None = None

    @handles(ClaimEmail)
    def claim(self, c: ClaimEmail) -> list[Event]:
        if self.owner == c.user_id:
            return []
        if self.owner is not None:
            raise DomainError("email_taken", f"{c.email} belongs to another user")
        return [EmailClaimed(email=c.email, user_id=c.user_id)]

    @handles(ReleaseEmail)
    def release(self, c: ReleaseEmail) -> list[Event]:
        return [EmailReleased(email=c.email, user_id=c.user_id)] if self.owner == c.user_id else []

    @applies(EmailClaimed)
    def _claimed(self, e: EmailClaimed) -> None:
        self.owner = e.user_id

    @applies(EmailReleased)
    def _released(self, e: EmailReleased) -> None:
        self.owner = None


class EmailClaims(Reactor):
    """Claims each address a user gives, and releases the one held before once the new one is
    the user's (see the module's notes)."""

    encore_name = "email_claims"

    def __init__(self) -> None:
        self.held: dict[str, list] = {}   # user id -> [address claimed, the user's version it came with]

    @reacts(UserCreated)
    def created(self, e: UserCreated, stored) -> list:
        return [ClaimEmail(email=normalized(e.email), user_id=e.user_id, version=stored.version)]

    @reacts(UserUpdated)
    def updated(self, e: UserUpdated, stored) -> list:
        if e.email is None:
            return []
        return [ClaimEmail(email=normalized(e.email), user_id=e.user_id, version=stored.version)]

    @on_accepted(ClaimEmail)
    def claimed(self, c: ClaimEmail, events, stored) -> list:
        held = self.held.get(c.user_id)
        if held is not None and held[1] > c.version:   # a later address is already the user's
            return [ReleaseEmail(email=c.email, user_id=c.user_id)] if held[0] != c.email else []
        self.held[c.user_id] = [c.email, c.version]
        return [ReleaseEmail(email=held[0], user_id=c.user_id)] if held and held[0] != c.email else []

    @on_rejected(ClaimEmail)
    def taken(self, c: ClaimEmail, code: str, message: str, stored) -> list:
        return [MarkEmailTaken(user_id=c.user_id, email=c.email)]


class UserWelcome(Reactor):
    encore_name = "user_welcome"
    encore_start = "head"   # added to a system with users, it welcomes the new ones only

    @effect(UserCreated)
    def email(self, e: UserCreated, stored, key: str) -> None:
        send_email(sender="users@encore.invalid", to=e.email, subject=f"Welcome, {e.name}",
                   body=f"Welcome, {e.name}. Your user id is {e.user_id}.", key=key)


# ---------------------------------------------------------------- the directory


class GetUser(Query):
    user_id: str


class GetUserByEmail(Query):
    email: str


class UserDirectory(Projection):
    """Users by id (as they gave their details; `email_taken` when their address is another
    user's), and by email: the owner of each claimed address."""

    encore_name = "user_directory"
    encore_snapshot_version = 2   # 2: the email index is folded from the claims

    def __init__(self) -> None:
        self.users: dict[str, dict] = {}
        self.by_email: dict[str, str] = {}

    @applies(UserCreated)
    def _created(self, e: UserCreated, stored) -> None:
        self.users[e.user_id] = {"user_id": e.user_id, "name": e.name, "email": e.email}

    @applies(UserUpdated)
    def _updated(self, e: UserUpdated, stored) -> None:
        user = self.users[e.user_id]
        if e.name is not None:
            user["name"] = e.name
        if e.email is not None:
            user["email"] = e.email
            user.pop("email_taken", None)

    @applies(UserEmailTaken)
    def _taken(self, e: UserEmailTaken, stored) -> None:
        self.users[e.user_id]["email_taken"] = True

    @applies(EmailClaimed)
    def _claimed(self, e: EmailClaimed, stored) -> None:
        self.by_email[e.email] = e.user_id

    @applies(EmailReleased)
    def _released(self, e: EmailReleased, stored) -> None:
        if self.by_email.get(e.email) == e.user_id:
            del self.by_email[e.email]

    @answers(GetUser)
    def user(self, q: GetUser) -> dict | None:
        return self.users.get(q.user_id)

    @answers(GetUserByEmail)
    def user_by_email(self, q: GetUserByEmail) -> dict | None:
        user_id = self.by_email.get(normalized(q.email))
        return self.users.get(user_id) if user_id else None


app = App("users", aggregates=[User, EmailClaim], projections=[UserDirectory],
          reactors=[EmailClaims, UserWelcome])
