"""Child process for the wire bad-input test: attaches to a launched system and sends each batch
it reads (one pickled list of items per line, hex) straight to shard 0 as a CommandBatch, the
way any process on the system's port could, skipping the client's own validation. Prints one
JSON line per batch: [[status, message], ...], or ["no answer"].

Usage: python -m tests.support.raw_client DATA_DIR
"""

import json
import pickle
import sys
import uuid

from actors.client import Encore
from actors.protocol.messages import BatchResults, CommandBatch


def main():
    with Encore.attach(sys.argv[1]) as client:
        shard = client.topology.shards[0]
        print("ready", flush=True)
        for line in sys.stdin:
            items = pickle.loads(bytes.fromhex(line.strip()))
            with client._endpoint() as system:  # the raw wire, on purpose
                reply = system.ask(shard, CommandBatch(uuid.uuid4().hex, items), 30)
            if isinstance(reply, BatchResults):
                print(json.dumps([[r.get("status"), r.get("message")] for r in reply.results]), flush=True)
            else:
                print(json.dumps(["no answer", repr(reply)]), flush=True)


if __name__ == "__main__":
    main()
