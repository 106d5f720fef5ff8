"""The user-profile workload: users created and updated, with duplicates the domain rejects and a
share of invalid commands (blank names, malformed emails) that validation must refuse. The
invalid ones are built without client-side validation, so it is the system that refuses them.

Every address is claimed by its user (the `email_claims` saga) and the one held before released:
at the end, the email index names exactly the users' current addresses. Every created user gets
one welcome email, from an SMTP server this workload runs on 127.0.0.1."""

from __future__ import annotations

import random
from typing import Any

from examples import users

from .mailing import MailingWorkload
from .workload import Plan, Step, differences

INVALID_SHARE = 0.1


class UsersWorkload(MailingWorkload):
    name = "users"
    app = users.app
    app_path = "examples.users:app"
    default_entities, default_commands = 2_000, 20_000
    quick_entities, quick_commands = 200, 2_000

    def user(self, i: int) -> str:
        return f"{self.prefix}user-{i}"

    def plan(self) -> Plan:
        rng, main = random.Random(self.seed), []
        model: dict[str, Any] = {}
        for n in range(self.commands):
            i = rng.randrange(self.entities)
            key, roll = self.user(i), rng.random()
            email = f"{self.prefix}u{i}.{n}@example.org"
            if roll < INVALID_SHARE:
                main.append(self._invalid(rng, key, model.get(key)))
            elif key not in model or roll < 0.2:
                main.append(self._create(model, key, f"Name {i}", email))
            else:
                main.append(self._update(model, key, rng, email))
        return Plan([], main, {"users": model})

    @staticmethod
    def _invalid(rng: random.Random, key: str, user: dict | None) -> Step:
        bad = rng.choice([{"name": "   "}, {"email": "not-an-email"}, {"name": ""}, {"email": "a@b"}])
        kinds: list[Any] = [users.CreateUser, users.UpdateUser]
        kind = rng.choice(kinds)
        fields = {"user_id": key, "name": "Someone", "email": "someone@example.org"} | bad
        if kind is users.UpdateUser:
            fields = {"user_id": key, **bad}
        return Step(kind.model_construct(None, **fields), key, "invalid", observe=dict(user) if user else None)

    @staticmethod
    def _create(model: dict, key: str, name: str, email: str) -> Step:
        command = users.CreateUser(user_id=key, name=name, email=email)
        if key in model:
            return Step(command, key, "rejected", "user_already_exists", observe=dict(model[key]))
        model[key] = {"user_id": key, "name": name, "email": email}
        return Step(command, key, "accepted", observe=dict(model[key]))

    @staticmethod
    def _update(model: dict, key: str, rng: random.Random, email: str) -> Step:
        user, roll = model[key], rng.random()
        changes = {"name": f"Renamed {rng.randrange(10**6)}"} if roll < 0.5 else {"email": email}
        user.update(changes)
        return Step(users.UpdateUser(user_id=key, **changes), key, "accepted", observe=dict(user))

    def query_for(self, key: str) -> users.GetUser:
        return users.GetUser(user_id=key)

    def observed(self, answer: Any) -> Any:
        return answer

    def settle(self, client: Any, plan: Plan) -> dict[str, Any]:
        """Wait until every address is claimed (or released) and every welcome email has arrived."""
        created = len(plan.model["users"])
        self.wait_for_reactors(client, created)
        return {"effects": self.effects(client, created)}

    def check_views(self, views, plan, *, whole_log):
        directory, expected = views["user_directory"], plan.model["users"]
        actual = {k: v for k, v in directory.users.items() if k.startswith(f"{self.prefix}user-")}
        found = differences("user", expected, actual)
        by_email = {users.normalized(u["email"]): k for k, u in expected.items()}
        held = {e: k for e, k in directory.by_email.items() if k.startswith(f"{self.prefix}user-")}
        found += differences("user with email", by_email, held)   # released ones too: none held twice
        return found, {"users": len(expected), "emails": len(by_email)}
