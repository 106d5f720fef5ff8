"""Child process for the crash test: appends batches forever, printing `ack N` after each commit.

Usage: python -m tests.support.crash_writer STORE_DIR FIRST_BATCH SEED [PREFIX]
Batch N writes BATCH_COMMANDS commands with ids `PREFIXbN-J`, each 1-3 events on one of 20
streams `PREFIXacct:K`. The store indexes its streams every INDEX_EVERY events, so kills land in
commits that also bring the stream index up to date.
"""

import random
import sys

from storage import AppendEntry, NewEvent, open_store

BATCH_COMMANDS = 10
INDEX_EVERY = 7


def batch_entries(store, batch, rng, prefix=""):
    heads, entries = {}, []
    for j in range(BATCH_COMMANDS):
        stream = f"{prefix}acct:{rng.randrange(20)}"
        head = heads.get(stream, store.stream_version(stream))
        n = rng.randint(1, 3)
        events = tuple(NewEvent("Moved", {"batch": batch, "j": j, "k": k}) for k in range(n))
        entries.append(AppendEntry(f"{prefix}b{batch}-{j}", stream, head, events))
        heads[stream] = head + n
    return entries


def main():
    path, batch, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    prefix = sys.argv[4] if len(sys.argv) > 4 else ""
    rng = random.Random(seed)
    store = open_store(path, index_every=INDEX_EVERY)
    while True:
        store.append(batch_entries(store, batch, rng, prefix))
        sys.stdout.write(f"ack {batch}\n")
        sys.stdout.flush()
        batch += 1


if __name__ == "__main__":
    main()
