"""The shard's notice board: a notice per commit to each follower while it has answered the last
one; heads committed meanwhile coalesce into one notice when its answer comes."""

from actors.shard.notices import NoticeBoard


def _heads(notices):
    return [notice.head for _, notice in notices]


def test_heads_committed_while_a_notice_is_unanswered_go_as_one_notice():
    board = NoticeBoard(shard=0)
    assert _heads(board.follow("group", "addr", head=0)) == []   # nothing to tell yet
    assert _heads(board.committed(1)) == [1]
    assert [_heads(board.committed(head)) for head in (2, 3, 4)] == [[], [], []]   # unanswered: they wait
    assert _heads(board.seen("group")) == [4]                     # one notice for the three
    assert _heads(board.seen("group")) == []                      # nothing new since
    assert _heads(board.committed(5)) == [5] and board.sent == 3


def test_a_follower_that_never_answers_gets_one_notice():
    board = NoticeBoard(shard=1)
    board.follow("slow", "addr", head=0)
    assert sum(len(board.committed(head)) for head in range(1, 1_000)) == 1


def test_a_resubscription_starts_afresh_with_the_head():
    board = NoticeBoard(shard=0)
    board.follow("group", "addr", head=0)
    board.committed(1)
    assert _heads(board.follow("group", "new-addr", head=7)) == [7]   # a restarted follower: told at once
    board.seen("group")
    assert [address for address, _ in board.committed(8)] == ["new-addr"]
    assert board.seen("nobody") == [] and _heads(board.committed(8)) == []
