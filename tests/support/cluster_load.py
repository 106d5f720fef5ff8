"""Load on a cluster's primary, from a process of its own (on any host): bank commands with
known ids, one at a time; every acknowledged one is printed `ACK id position` as it comes (the
test collects them: what it must find on every copy). Commands not acknowledged (unavailable,
timed out) are retried with the same id until they are, or the process is stopped.

    python -m tests.support.cluster_load CLUSTER_FILE HOST PREFIX COUNT   (HOST "-": the primary now)
"""

import sys

from actors.client import Encore
from actors.errors import EncoreError
from examples.bank import Deposit, OpenAccount


def main() -> None:
    cluster, host, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = Encore.attach(cluster=cluster, host=None if host == "-" else host)
    print("READY", flush=True)
    for n in range(count):
        command = OpenAccount(account_id=f"{prefix}{n}", owner="o") if n % 2 == 0 else \
            Deposit(account_id=f"{prefix}{n - 1}", amount=n)
        command_id = f"{prefix}-{n}"
        while True:
            try:
                result = client.ask(command, command_id=command_id, timeout=5)
            except EncoreError as e:   # not acknowledged: the same id again
                print(f"RETRY {command_id} {type(e).__name__}", flush=True)
                continue
            print(f"ACK {command_id} {result.position}", flush=True)
            break
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
