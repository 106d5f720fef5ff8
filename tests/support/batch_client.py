"""Child process for the storage-fault test: attaches to a launched system and, for each line
`TAG N` read from stdin, opens N bank accounts with command ids `TAG-J` (large owner names, so the
store's file grows), printing one JSON line of results: [[id, status, position, events, message, duplicate]].

Usage: python -m tests.support.batch_client DATA_DIR
"""

import json
import sys

from actors.client import Encore
from examples.bank import OpenAccount


def main():
    with Encore.attach(sys.argv[1]) as client:
        print("ready", flush=True)
        for line in sys.stdin:
            tag, count = line.split()
            ids = [f"{tag}-{j}" for j in range(int(count))]
            opens = [OpenAccount(account_id=cid, owner="o" * 200) for cid in ids]
            results = client.ask_many(opens, command_ids=ids, timeout=30)
            print(json.dumps([[r.command_id, r.status, r.position, len(r.events), r.message, r.duplicate]
                              for r in results]),
                  flush=True)


if __name__ == "__main__":
    main()
