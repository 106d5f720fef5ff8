"""Child process for the rebuild crash test: folds a store's log into the balances view the way a
projection does (ViewFollower, slices of ~5,000 events, a view snapshot after each and at the end), printing
`saved N` after each snapshot. It is killed with kill -9 in the middle.

Usage: python -m tests.support.rebuild_child DATA_DIR
"""

import sys
from pathlib import Path

from actors.followers.view_fold import ViewFollower
from actors.process.settings import Settings
from examples.bank import app
from storage import open_store


def main():
    data = Path(sys.argv[1])
    store = open_store(data / "store")
    follower = ViewFollower(app, "balances", store, Settings(data_dir=data, view_snapshot_every=5_000), persist=True)
    follower.resume()
    print(f"resumed {follower.checkpoint}", flush=True)
    while follower.catch_up(max_events=5_000):
        follower.save_if_due()
        print(f"saved {follower.clock.saved_checkpoint}", flush=True)
    follower.save_if_due(force=True)  # the last slice may be short of view_snapshot_every, as a Flush does
    print("done", flush=True)


if __name__ == "__main__":
    main()
