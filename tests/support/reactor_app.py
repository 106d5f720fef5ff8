"""A bank with a reactor, for the reactor tests: every new account gets a welcome bonus of 10, and
then tries to take a fee of 1,000 that it cannot pay; the rejection is answered with a note
deposit of 1. An account opened with the owner "late" also gets a deadline: 1 more after 0.2 s.
Every new account is also greeted (an effect, recorded in GREETED of the process that runs it);
greeting the owner "unreachable" fails while UNREACHABLE_FAILS is set."""

from actors import App
from actors.model.domain import CancelDeadline, Deadline, Reactor, effect, on_rejected, reacts
from examples.bank import Account, AccountOpened, AuditTrail, Balances, Deposit, Deposited, Withdraw

GREETED: list[str] = []          # effect keys, in the order the greetings ran
UNREACHABLE_FAILS = [True]


class Welcome(Reactor):
    encore_name = "welcome"

    def __init__(self):
        self.welcomed = 0

    @reacts(AccountOpened)
    def opened(self, event, stored):
        self.welcomed += 1
        sent = [Deposit(account_id=event.account_id, amount=10), Withdraw(account_id=event.account_id, amount=1000)]
        if event.owner in ("late", "cancelled"):
            sent.append(Deadline(f"late-{event.account_id}", 0.2, Deposit(account_id=event.account_id, amount=1)))
        return sent

    @reacts(Deposited)
    def deposited(self, event, stored):
        if event.amount == 7:   # a deposit of 7 cancels the account's pending deadline
            return [CancelDeadline(f"late-{event.account_id}")]
        return []

    @effect(AccountOpened)
    def greet(self, event, stored, key):
        if event.owner == "unreachable" and UNREACHABLE_FAILS[0]:
            raise ConnectionRefusedError(f"cannot reach {event.account_id}'s owner")
        GREETED.append(key)

    @on_rejected(Withdraw)
    def fee_refused(self, command, code, message, stored):
        return [Deposit(account_id=command.account_id, amount=1)] if code == "insufficient_funds" else []


app = App("bank-with-welcome", aggregates=[Account], projections=[Balances, AuditTrail], reactors=[Welcome])
