"""The selector Encore puts under Thespian's TCP loop (actors/system/poller.py)."""

import errno
import os
import socket

import pytest

from actors.system import poller
from actors.system.poller import OneShotPoll


def ready_fds(selector, timeout=0):
    return {(key.fd, events) for key, events in selector.select(timeout)}


def test_reports_readable_only_once_data_is_there():
    a, b = socket.socketpair()
    with a, b:
        selector = OneShotPoll()
        selector.register(a.fileno(), poller.selectors.EVENT_READ)
        assert ready_fds(selector) == set()
        b.send(b"x")
        assert ready_fds(selector) == {(a.fileno(), poller.selectors.EVENT_READ)}


def test_reports_writable_and_merges_registrations_of_one_fd():
    a, b = socket.socketpair()
    with a, b:
        selector = OneShotPoll()
        selector.register(a, poller.selectors.EVENT_READ)      # a socket object works too
        selector.register(a.fileno(), poller.selectors.EVENT_WRITE)
        assert ready_fds(selector) == {(a.fileno(), poller.selectors.EVENT_WRITE)}


def test_a_peer_that_hung_up_wakes_the_reader():
    a, b = socket.socketpair()
    with a:
        b.close()
        selector = OneShotPoll()
        selector.register(a.fileno(), poller.selectors.EVENT_READ)
        assert ready_fds(selector) == {(a.fileno(), poller.selectors.EVENT_READ)}


def test_a_closed_descriptor_raises_ebadf_like_epoll():
    a, b = socket.socketpair()
    fd = os.dup(a.fileno())
    a.close(), b.close()
    os.close(fd)
    selector = OneShotPoll()
    selector.register(fd, poller.selectors.EVENT_READ)
    with pytest.raises(OSError) as caught:
        selector.select(0)
    assert caught.value.errno == errno.EBADF


def test_installed_under_thespians_tcp_loop():
    from thespian.system.transport import TCPTransport

    assert poller.install() is True
    assert TCPTransport.selectors.DefaultSelector is OneShotPoll


def test_encore_thespian_poll_0_leaves_thespian_alone(monkeypatch):
    from thespian.system.transport import TCPTransport

    monkeypatch.setattr(TCPTransport, "selectors", poller.selectors)  # Thespian's own; restored afterwards
    monkeypatch.setenv("ENCORE_THESPIAN_POLL", "0")
    assert poller.install() is False
    assert TCPTransport.selectors is poller.selectors
