"""The shard's notice board: a notice per commit to each follower, at most WINDOW unanswered;
newer heads coalesce into one notice when the follower answers (every ACK_EVERY notices)."""

from actors.notices import ACK_EVERY, WINDOW, NoticeBoard


def _heads(notices):
    return [notice.head for _, notice in notices]


def test_each_commit_is_noticed_until_the_window_is_full_then_heads_coalesce():
    board = NoticeBoard(shard=0)
    assert _heads(board.follow("group", "addr", head=0)) == []   # nothing to tell yet
    sent = [_heads(board.committed(head)) for head in range(1, WINDOW + 4)]
    assert sent == [[head] for head in range(1, WINDOW + 1)] + [[]] * 3   # the last 3 heads wait
    assert _heads(board.seen("group", ACK_EVERY)) == [WINDOW + 3]   # one notice for the 3 that waited
    assert _heads(board.committed(WINDOW + 4)) == [WINDOW + 4]      # room again: noticed at once
    assert board.sent == WINDOW + 2


def test_a_follower_that_never_answers_gets_no_more_than_the_window():
    board = NoticeBoard(shard=1)
    board.follow("slow", "addr", head=0)
    notices = sum(len(board.committed(head)) for head in range(1, 1_000))
    assert notices == WINDOW


def test_a_resubscription_starts_afresh_with_the_head_and_bogus_counts_count_as_one():
    board = NoticeBoard(shard=0)
    board.follow("group", "addr", head=0)
    for head in range(1, WINDOW + 1):
        board.committed(head)
    assert _heads(board.committed(WINDOW + 1)) == []
    assert _heads(board.seen("group", "many")) == [WINDOW + 1]   # (not an int: one handled)
    assert _heads(board.seen("group", 10**9)) == []               # (more than the window: one)
    assert _heads(board.follow("group", "new-addr", head=WINDOW + 5)) == [WINDOW + 5]   # a restarted follower
    assert [address for address, _ in board.committed(WINDOW + 6)] == ["new-addr"]
    assert board.seen("nobody") == []
