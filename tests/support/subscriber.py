"""Child process for the subscription tests: attaches to a launched system, subscribes after
AFTER and prints one line per event received: its offset, stream and version (JSON).

Usage: python -m tests.support.subscriber DATA_DIR AFTER
"""

import json
import sys

from actors.client import Encore


def main():
    data, after = sys.argv[1], int(sys.argv[2])
    with Encore.attach(data) as client:
        print("ready", flush=True)
        for event in client.subscribe(after):
            print(json.dumps([event.offset, event.stream, event.version]), flush=True)


if __name__ == "__main__":
    main()
