"""Sending one email by SMTP, as the samples' welcome reactors do, to the server named by
ENCORE_SMTP (host:port, default 127.0.0.1:8025). The effect's key is in the Message-ID, so a
retried email is recognisably the same email."""

from __future__ import annotations

import os
import smtplib
from email.message import EmailMessage


def send_email(*, sender: str, to: str, subject: str, body: str, key: str) -> None:
    host, _, port = os.environ.get("ENCORE_SMTP", "127.0.0.1:8025").rpartition(":")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{key.replace(':', '.')}@encore.invalid>"   # the same on every try: the key
    message["X-Idempotency-Key"] = key
    message.set_content(body)
    with smtplib.SMTP(host, int(port), timeout=5) as smtp:
        smtp.send_message(message)
