"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives: the shop workload's
emails, and the tests'."""

import threading
from email import message_from_bytes

from aiosmtpd.controller import Controller


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.lock = threading.Lock()
        self.refuse = False   # answer 451 (try later) while set

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 try again later"
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for m in self.messages]


def start(port: int) -> tuple[Controller, Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox
