"""The library example (a user's app none of the samples know), tested as its author would: the
kit for its rules and its view, and loadsim with its own workload."""

import json

import pytest

from actors.testing import given, given_view
from examples.library import (
    AddBook,
    BookAdded,
    BookLent,
    BookReturned,
    Branch,
    GetAvailableBooks,
    GetLoans,
    JoinLibrary,
    LendBook,
    Loans,
    MemberJoined,
    ReturnBook,
)
from loadsim import runner

SHELF = [BookAdded(branch_id="b", book_id=f"k{i}", title=f"T{i}") for i in range(5)]
ANN = MemberJoined(branch_id="b", member_id="ann")
BOB = MemberJoined(branch_id="b", member_id="bob")


def lent(book, member="ann"):
    return BookLent(branch_id="b", book_id=book, member_id=member)


def test_a_book_is_lent_to_one_member_at_a_time_and_only_its_holder_returns_it():
    given(Branch, *SHELF, ANN, BOB).when(LendBook(branch_id="b", book_id="k0", member_id="ann")).then(lent("k0"))
    given(Branch, *SHELF, ANN, BOB, lent("k0")).when(LendBook(branch_id="b", book_id="k0", member_id="bob")) \
        .then_rejected("book_not_available")
    given(Branch, *SHELF, ANN, BOB, lent("k0")).when(ReturnBook(branch_id="b", book_id="k0", member_id="bob")) \
        .then_rejected("not_held")
    given(Branch, *SHELF, ANN, lent("k0")).when(ReturnBook(branch_id="b", book_id="k0", member_id="ann")) \
        .then(BookReturned(branch_id="b", book_id="k0", member_id="ann"))


def test_a_member_holds_at_most_three_books_and_unknown_ones_are_refused():
    three = [lent(f"k{i}") for i in range(3)]
    given(Branch, *SHELF, ANN, *three).when(LendBook(branch_id="b", book_id="k3", member_id="ann")) \
        .then_rejected("loan_limit")
    given(Branch, *SHELF).when(LendBook(branch_id="b", book_id="k0", member_id="zed")).then_rejected("unknown_member")
    given(Branch, ANN).when(LendBook(branch_id="b", book_id="k9", member_id="ann")).then_rejected("unknown_book")
    given(Branch, *SHELF).when(AddBook(branch_id="b", book_id="k0", title="again")).then_rejected("book_exists")
    given(Branch, ANN).when(JoinLibrary(branch_id="b", member_id="ann")).then_rejected("already_member")


def test_the_view_lists_loans_per_member_and_the_books_on_the_shelves():
    history = [*SHELF, ANN, BOB, lent("k1"), lent("k3", "bob"), lent("k0"),
               BookReturned(branch_id="b", book_id="k1", member_id="ann")]
    given_view(Loans, *history).query(GetLoans(member_id="ann")).answers(["k0"])
    given_view(Loans, *history).query(GetAvailableBooks(branch_id="b")).answers(["k1", "k2", "k4"])


def test_loadsim_runs_the_library_workload_and_verifies_it(tmp_path):
    out = tmp_path / "library.json"
    code = runner.main(["--workload", "examples.library:LibraryWorkload", "--quick", "--embedded", "--no-progress",
                        "--reads", "20", "--json", str(out)])
    figures = json.loads(out.read_text())
    assert code == 0 and figures["verify"]["ok"] and figures["workload"] == "library"
    assert figures["rejected"] > 0 and figures["ryw_checked"] > 0 and figures["ryw_stale"] == 0


@pytest.mark.parametrize(("argv", "says"), [
    (["--workload", "no.such.module:W"], "cannot import"),
    (["--workload", "examples.library:app"], "subclass of loadsim.workload.Workload"),
    (["bank", "--workload", "examples.library:LibraryWorkload"], "name one workload"),
    ([], "name one workload"),
])
def test_a_workload_that_cannot_be_used_says_why(argv, says, capsys):
    assert runner.main([*argv, "--quick", "--embedded", "--no-progress"]) == 2
    assert says in capsys.readouterr().err
