"""Real servers for the notification tests: an aiosmtpd SMTP server on 127.0.0.1 that can
be stopped and started again, and an HTTP webhook receiver with scripted answers."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from kamflow.notifications.channels import EmailChannel

# -- SMTP ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Collector:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


class Smtp:
    """An aiosmtpd server on 127.0.0.1 that can be stopped and started again on its port."""

    def __init__(self, **options: Any) -> None:
        self.port = free_port()
        self.handler = Collector()
        self.options = options  # e.g. authenticator=..., auth_require_tls=False
        self.ctl: Controller | None = None

    def start(self) -> None:
        self.ctl = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                              **self.options)
        self.ctl.start()

    def stop(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None

    def channels(self) -> dict[str, Any]:
        return {"email": EmailChannel("127.0.0.1", self.port, sender="kamflow@x.test",
                                      timeout=5)}

    def mails(self) -> list[EmailMessage]:
        out = []
        for env in self.handler.envelopes:
            mail = email.message_from_bytes(env.content, policy=email.policy.default)
            assert isinstance(mail, EmailMessage)
            out.append(mail)
        return out

    def received(self) -> list[tuple[str, str, str]]:
        """(recipient, subject, Message-ID) of every message that arrived."""
        out = []
        for env, mail in zip(self.handler.envelopes, self.mails(), strict=True):
            (rcpt,) = env.rcpt_tos
            out.append((rcpt, " ".join(str(mail["Subject"]).split()), str(mail["Message-ID"])))
        return out


class Hook:
    """A webhook receiver: answers each POST with the next status of `statuses` (200 after)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, Any]] = []
        self.calls = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.calls += 1
                status = hook.statuses.pop(0) if hook.statuses else 200
                if status == 200:
                    hook.bodies.append({**data, "path": self.path,
                                        "key": self.headers["Idempotency-Key"]})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


