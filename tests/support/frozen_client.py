"""Child process for the frozen-client tests: attaches to a launched system, sends a batch of
commands to the shard of account ACCOUNT without waiting for the answer, prints "sent" and stops
itself (SIGSTOP), so the answer finds a client whose process does not run.

Usage: python -m tests.support.frozen_client DATA_DIR ACCOUNT
"""

import os
import signal
import sys
import uuid
import zlib

from actors.client import Encore
from actors.protocol.messages import CommandBatch


def main():
    data, account = sys.argv[1], sys.argv[2]
    with Encore.attach(data) as client:
        shards = client.topology.shards
        shard = shards[zlib.crc32(f"account:{account}".encode()) % len(shards)]
        commands = [("Deposit", {"account_id": account, "amount": 1}, uuid.uuid4().hex) for _ in range(5)]
        with client._endpoint() as system:
            system.tell(shard, CommandBatch(uuid.uuid4().hex, commands))
        print("sent", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)


if __name__ == "__main__":
    main()
