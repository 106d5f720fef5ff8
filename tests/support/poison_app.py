"""The bank with one more view, `fragile`, whose handler raises on a deposit of 13 (a poison
event), for the tests of failed views and skips."""

from actors import App, Projection, Query, answers, applies
from examples.bank import Account, Balances, Deposited


class GetDepositCount(Query):
    pass


class Fragile(Projection):
    encore_name = "fragile"

    def __init__(self):
        self.deposits = 0

    @applies(Deposited)
    def _deposited(self, e, stored):
        if e.amount == 13:
            raise ValueError("thirteen is unlucky")
        self.deposits += 1

    @answers(GetDepositCount)
    def count(self, q):
        return self.deposits


app = App("bank-with-a-fragile-view", aggregates=[Account], projections=[Balances, Fragile])
