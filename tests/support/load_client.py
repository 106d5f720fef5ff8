"""Child process for the whole-system crash test: attaches to a launched system and deposits in
batches forever, printing one JSON line per acknowledged batch: [[command id, position, events]].

Usage: python -m tests.support.load_client DATA_DIR ACCOUNTS
"""

import json
import random
import sys

from actors.client import Encore
from examples.bank import Deposit, OpenAccount


def main():
    data, accounts = sys.argv[1], int(sys.argv[2])
    rng = random.Random(1)
    with Encore.attach(data) as client:
        client.ask_many([OpenAccount(account_id=f"a{i}", owner="o") for i in range(accounts)])
        batch = 0
        while True:
            ids = [f"load-{batch}-{j}" for j in range(50)]
            deposits = [Deposit(account_id=f"a{rng.randrange(accounts)}", amount=rng.randint(1, 100)) for _ in ids]
            results = client.ask_many(deposits, command_ids=ids)
            acked = [[r.command_id, r.position, len(r.events)] for r in results if r.accepted]
            print(json.dumps(acked), flush=True)
            batch += 1


if __name__ == "__main__":
    main()
