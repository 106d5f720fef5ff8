"""Child process for the stalled-subscriber tests: attaches to a launched system, opens COUNT
subscriptions from offset 0, takes one event from each and then never reads again. Prints
"stalled" once every subscription has given its event; exits when its stdin closes.

Usage: python -m tests.support.stalled_subscribers DATA_DIR COUNT
"""

import sys

from actors.client import Encore


def main():
    data, count = sys.argv[1], int(sys.argv[2])
    with Encore.attach(data) as client:
        held = [client.subscribe(0) for _ in range(count)]
        for subscription in held:
            next(subscription)
        print("stalled", flush=True)
        sys.stdin.read()   # until the test closes our stdin; the subscriptions are never read again


if __name__ == "__main__":
    main()
