"""How a notification travels: email over SMTP, a JSON webhook, or a log file.

A channel's `send` returns when the message was handed over and raises otherwise;
the deliverer (kamflow.notify) turns a raise into a retry with backoff. The only
module that imports httpx.
"""

from __future__ import annotations

import hashlib
import json
import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

import httpx

log = logging.getLogger("kamflow.notifications")


class SendError(Exception):
    """A message could not be handed over; it will be tried again."""


class Unreachable(SendError):
    """The server itself could not be reached (refused, timed out, login failed): the
    deliverer does not try its other messages in this run."""


# Errors of the connection, not of one message: the server is down or refuses us.
SMTP_DOWN = (OSError, smtplib.SMTPConnectError, smtplib.SMTPHeloError,
             smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError)


@dataclass(frozen=True)
class Message:
    """One outbox row, as a channel sends it."""

    kind: str
    recipient: str
    subject: str
    text: str
    html: str
    dedupe_key: str
    why: dict[str, Any] = field(default_factory=dict)
    address: str | None = None  # the webhook URL for the webhook channel

    @property
    def message_id(self) -> str:
        """Stable per outbox row, so a receiver can drop a copy resent after a crash."""
        return f"<{hashlib.sha256(self.dedupe_key.encode()).hexdigest()[:32]}@kamflow>"


class Channel(Protocol):
    """Hands one message over, or raises. `close` releases connections; the channel stays
    usable and reconnects on the next `send`."""

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


class EmailChannel:
    """SMTP with optional STARTTLS and login; one connection reused across a batch."""

    def __init__(self, host: str, port: int = 25, starttls: bool = False,
                 user: str | None = None, password: str | None = None,
                 sender: str = "kamflow@localhost", timeout: float = 10.0) -> None:
        self.host, self.port, self.starttls = host, port, starttls
        self.user, self.password, self.sender, self.timeout = user, password, sender, timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            try:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def _email(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Message-ID"] = message.message_id
        mail["X-Kamflow-Kind"] = message.kind
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(message.html, subtype="html")
        return mail

    def _server(self) -> smtplib.SMTP:
        try:
            return self._connect()
        except (*SMTP_DOWN, smtplib.SMTPServerDisconnected) as e:
            raise Unreachable(f"smtp {self.host}:{self.port}: {type(e).__name__}: {e}") from e

    def send(self, message: Message) -> None:
        mail = self._email(message)
        reused = self._smtp is not None
        try:
            self._server().send_message(mail)
        except smtplib.SMTPServerDisconnected:
            self.close()
            if not reused:
                raise
            self._server().send_message(mail)  # the kept connection had gone stale
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


class WebhookChannel:
    """POST JSON with a Slack-compatible `text` field to the recipient's webhook URL."""

    def __init__(self, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
                 ) -> None:
        self.timeout, self.transport = timeout, transport
        self._client: httpx.Client | None = None

    @staticmethod
    def body(message: Message) -> dict[str, Any]:
        return {"text": f"*{message.subject}*\n{message.text}", "kind": message.kind,
                "recipient": message.recipient, "subject": message.subject,
                "why": message.why, "id": message.dedupe_key}

    def send(self, message: Message) -> None:
        if not message.address:
            raise SendError(f"no webhook_url set for {message.recipient}")
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, transport=self.transport)
        try:
            reply = self._client.post(message.address, json=self.body(message),
                                      headers={"Idempotency-Key": message.dedupe_key})
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise Unreachable(f"webhook {message.address}: {type(e).__name__}: {e}") from e
        except httpx.HTTPError as e:
            raise SendError(f"webhook {message.address}: {type(e).__name__}: {e}") from e
        if not reply.is_success:
            raise SendError(f"webhook {message.address}: HTTP {reply.status_code}")

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


class LogChannel:
    """One JSON line per message, appended to a file, or to the logger when no file is set."""

    def __init__(self, path: Path | None = None, logger: logging.Logger = log) -> None:
        self.path, self.logger = path, logger

    def send(self, message: Message) -> None:
        line = json.dumps({"kind": message.kind, "recipient": message.recipient,
                           "subject": message.subject, "text": message.text,
                           "id": message.dedupe_key, "why": message.why}, default=str)
        if self.path is None:
            self.logger.info("%s", line)
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    def close(self) -> None:
        return None
