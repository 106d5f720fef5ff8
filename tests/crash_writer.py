"""Child process for the crash test: appends batches forever, printing `ack N` after each commit.

Usage: python -m tests.crash_writer STORE_DIR FIRST_BATCH SEED
Batch N writes BATCH_COMMANDS commands with ids `bN-J`, each 1-3 events on one of 20 streams.
"""

import random
import sys

from storage import AppendEntry, NewEvent, open_store

BATCH_COMMANDS = 10


def batch_entries(store, batch, rng):
    heads, entries = {}, []
    for j in range(BATCH_COMMANDS):
        stream = f"acct:{rng.randrange(20)}"
        head = heads.get(stream, store.stream_version(stream))
        n = rng.randint(1, 3)
        events = tuple(NewEvent("Moved", {"batch": batch, "j": j, "k": k}) for k in range(n))
        entries.append(AppendEntry(f"b{batch}-{j}", stream, head, events))
        heads[stream] = head + n
    return entries


def main():
    path, batch, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    store = open_store(path)
    while True:
        store.append(batch_entries(store, batch, rng))
        sys.stdout.write(f"ack {batch}\n")
        sys.stdout.flush()
        batch += 1


if __name__ == "__main__":
    main()
