"""A lending library, written as a user of Encore writes an app, with its load-test workload.

Each branch of the library is one aggregate (its books, its members, who holds what), so a branch's
rules are checked together: a book is lent to one member at a time, a member holds at most
MAX_LOANS books, only what a member holds can be returned. Views: the loans of each member, and
the books on the shelves.

    bin/encore start --app examples.library:app
    bin/loadsim --workload examples.library:LibraryWorkload --quick
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import Field

from actors import Aggregate, App, Command, DomainError, Event, Projection, Query, answers, applies, handles
from loadsim.workload import Plan, Step, Workload, differences

MAX_LOANS = 3
Name = Field(min_length=1, max_length=100)


class AddBook(Command):
    encore_target = "branch_id"
    branch_id: str = Name
    book_id: str = Name
    title: str = Field(min_length=1, max_length=300)


class JoinLibrary(Command):
    encore_target = "branch_id"
    branch_id: str = Name
    member_id: str = Name


class LendBook(Command):
    encore_target = "branch_id"
    branch_id: str = Name
    book_id: str = Name
    member_id: str = Name


class ReturnBook(Command):
    encore_target = "branch_id"
    branch_id: str = Name
    book_id: str = Name
    member_id: str = Name


class BookAdded(Event):
    branch_id: str
    book_id: str
    title: str


class MemberJoined(Event):
    branch_id: str
    member_id: str


class BookLent(Event):
    branch_id: str
    book_id: str
    member_id: str


class BookReturned(Event):
    branch_id: str
    book_id: str
    member_id: str


class Branch(Aggregate):
    encore_type = "branch"

    def __init__(self):
        self.books: dict[str, str | None] = {}   # book -> the member who holds it, or None
        self.loans: dict[str, list[str]] = {}    # member -> the books they hold

    @handles(AddBook)
    def add(self, c):
        if c.book_id in self.books:
            raise DomainError("book_exists", f"book {c.book_id} is already in branch {c.branch_id}")
        return [BookAdded(branch_id=c.branch_id, book_id=c.book_id, title=c.title)]

    @handles(JoinLibrary)
    def join(self, c):
        if c.member_id in self.loans:
            raise DomainError("already_member", f"{c.member_id} is already a member of branch {c.branch_id}")
        return [MemberJoined(branch_id=c.branch_id, member_id=c.member_id)]

    @handles(LendBook)
    def lend(self, c):
        self._known(c.book_id, c.member_id)
        if self.books[c.book_id] is not None:
            raise DomainError("book_not_available", f"book {c.book_id} is lent to {self.books[c.book_id]}")
        if len(self.loans[c.member_id]) >= MAX_LOANS:
            raise DomainError("loan_limit", f"{c.member_id} already holds {MAX_LOANS} books; return one first")
        return [BookLent(branch_id=c.branch_id, book_id=c.book_id, member_id=c.member_id)]

    @handles(ReturnBook)
    def give_back(self, c):
        self._known(c.book_id, c.member_id)
        if self.books[c.book_id] != c.member_id:
            raise DomainError("not_held", f"{c.member_id} does not hold book {c.book_id}")
        return [BookReturned(branch_id=c.branch_id, book_id=c.book_id, member_id=c.member_id)]

    def _known(self, book_id: str, member_id: str) -> None:
        if book_id not in self.books:
            raise DomainError("unknown_book", f"there is no book {book_id} in this branch")
        if member_id not in self.loans:
            raise DomainError("unknown_member", f"{member_id} is not a member of this branch")

    @applies(BookAdded)
    def _added(self, e):
        self.books[e.book_id] = None

    @applies(MemberJoined)
    def _joined(self, e):
        self.loans[e.member_id] = []

    @applies(BookLent)
    def _lent(self, e):
        self.books[e.book_id] = e.member_id
        self.loans[e.member_id].append(e.book_id)

    @applies(BookReturned)
    def _returned(self, e):
        self.books[e.book_id] = None
        self.loans[e.member_id].remove(e.book_id)


class GetLoans(Query):
    member_id: str = Name


class GetAvailableBooks(Query):
    branch_id: str = Name


class Loans(Projection):
    encore_name = "loans"

    def __init__(self):
        self.loans: dict[str, list[str]] = {}        # member -> books held, in the order lent
        self.shelves: dict[str, list[str]] = {}      # branch -> books on the shelves

    @applies(BookAdded)
    def _added(self, e, stored):
        self.shelves.setdefault(e.branch_id, []).append(e.book_id)

    @applies(MemberJoined)
    def _joined(self, e, stored):
        self.loans.setdefault(e.member_id, [])

    @applies(BookLent)
    def _lent(self, e, stored):
        self.loans[e.member_id].append(e.book_id)
        self.shelves[e.branch_id].remove(e.book_id)

    @applies(BookReturned)
    def _returned(self, e, stored):
        self.loans[e.member_id].remove(e.book_id)
        self.shelves[e.branch_id].append(e.book_id)

    @answers(GetLoans)
    def member_loans(self, q):
        return sorted(self.loans.get(q.member_id, []))

    @answers(GetAvailableBooks)
    def available(self, q):
        return sorted(self.shelves.get(q.branch_id, []))


app = App("library", aggregates=[Branch], projections=[Loans])


class LibraryWorkload(Workload):
    """Branches of BOOKS books and MEMBERS members; members borrow and return at random. The
    model (this class's own bookkeeping) says which lend or return the branch must refuse and
    why; at the end every member's loans and every branch's shelves must match it."""

    name = "library"
    app = app
    app_path = "examples.library:app"
    default_entities, default_commands = 200, 50_000   # branches, lends and returns
    quick_entities, quick_commands = 20, 2_000
    BOOKS, MEMBERS = 30, 10

    def branch(self, i: int) -> str:
        return f"{self.prefix}branch-{i}"

    def plan(self) -> Plan:
        rng = random.Random(self.seed)
        setup: list[Step] = []
        held: dict[str, str | None] = {}          # book -> the member who holds it
        loans: dict[str, list[str]] = {}          # member -> the books they hold
        shelves: dict[str, set[str]] = {}         # branch -> the books on its shelves
        for b in range(self.entities):
            branch = self.branch(b)
            shelves[branch] = set()
            for k in range(self.BOOKS):
                book = f"{branch}/book-{k}"
                held[book] = None
                shelves[branch].add(book)
                setup.append(Step(AddBook(branch_id=branch, book_id=book, title=f"Title {k}"), branch, "accepted",
                                  observe=sorted(shelves[branch])))
            for m in range(self.MEMBERS):
                loans[f"{branch}/member-{m}"] = []
                setup.append(Step(JoinLibrary(branch_id=branch, member_id=f"{branch}/member-{m}"), branch,
                                  "accepted", observe=sorted(shelves[branch])))
        main = [self._step(rng, held, loans, shelves) for _ in range(self.commands)]
        return Plan(setup, main, {"loans": {m: sorted(b) for m, b in loans.items()},
                                  "shelves": {k: sorted(v) for k, v in shelves.items()}})

    def _step(self, rng: random.Random, held: dict, loans: dict, shelves: dict) -> Step:
        """One lend or return, and what the branch must answer (the model's bookkeeping)."""
        branch = self.branch(rng.randrange(self.entities))
        book = f"{branch}/book-{rng.randrange(self.BOOKS)}"
        member = f"{branch}/member-{rng.randrange(self.MEMBERS)}"
        if rng.random() < 0.55:   # a lend, refused when the book is out or the member is at the limit
            command: Command = LendBook(branch_id=branch, book_id=book, member_id=member)
            if held[book] is not None:
                return Step(command, branch, "rejected", "book_not_available", observe=sorted(shelves[branch]))
            if len(loans[member]) >= MAX_LOANS:
                return Step(command, branch, "rejected", "loan_limit", observe=sorted(shelves[branch]))
            held[book] = member
            loans[member].append(book)
            shelves[branch].discard(book)
            return Step(command, branch, "accepted", observe=sorted(shelves[branch]))
        if loans[member] and rng.random() < 0.8:   # mostly a book they hold; sometimes one they do not
            book = rng.choice(loans[member])
        command = ReturnBook(branch_id=branch, book_id=book, member_id=member)
        if held[book] != member:
            return Step(command, branch, "rejected", "not_held", observe=sorted(shelves[branch]))
        held[book] = None
        loans[member].remove(book)
        shelves[branch].add(book)
        return Step(command, branch, "accepted", observe=sorted(shelves[branch]))

    def query_for(self, key: str) -> Query:
        return GetAvailableBooks(branch_id=key)

    def observed(self, answer: Any) -> Any:
        return answer   # the branch's shelves, as the step's `observe` predicts them

    def check_views(self, views, plan, *, whole_log):
        view = views["loans"]
        found = differences("member", plan.model["loans"], {m: sorted(view.loans.get(m, []))
                                                             for m in plan.model["loans"]})
        found += differences("branch", plan.model["shelves"], {b: sorted(view.shelves.get(b, []))
                                                               for b in plan.model["shelves"]})
        return found, {"members": len(plan.model["loans"]), "branches": len(plan.model["shelves"])}
