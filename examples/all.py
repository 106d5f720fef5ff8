"""The four sample domains in one app: what `bin/encore start` runs by default."""

from actors import App

from . import bank, orders, tasks, users

app = App.combine("all", bank.app, tasks.app, users.app, orders.app)
