"""The channels against real servers on 127.0.0.1: what they send, and which failures
mean "this server is unreachable" (skip its other messages) or "this message failed"."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from kamflow.notifications.channels import (
    EmailChannel,
    LogChannel,
    Message,
    SendError,
    Unreachable,
    WebhookChannel,
)
from support.mail import Hook, Smtp, free_port

MSG = Message("escalated", "ann@x.test", "Escalated (level 1): plan for Acme",
              "Hello Ann\n", "<p>Hello <b>Ann</b></p>", "escalated:7:1:ann@x.test",
              {"rule": "loyal.plan", "playbook_version": "abc", "reason": "late"})


def _login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"kam", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_auth() -> Iterator[Smtp]:
    server = Smtp(authenticator=_login, auth_require_tls=False)
    server.start()
    yield server
    server.stop()


def test_email_logs_in_and_sends_text_with_an_html_alternative(smtp_auth: Smtp) -> None:
    channel = EmailChannel("127.0.0.1", smtp_auth.port, user="kam", password="s3cret",
                           sender="kamflow@x.test", timeout=5)
    channel.send(MSG)
    channel.send(Message(**{**MSG.__dict__, "recipient": "sam@x.test",
                            "dedupe_key": "escalated:7:1:sam@x.test"}))
    channel.close()
    first, second = smtp_auth.mails()
    assert (first["From"], first["To"], first["X-Kamflow-Kind"]) == (
        "kamflow@x.test", "ann@x.test", "escalated")
    assert first["Message-ID"] == MSG.message_id != second["Message-ID"]
    body = first.get_body(preferencelist=("plain",))
    html = first.get_body(preferencelist=("html",))
    assert body is not None and body.get_content().strip() == "Hello Ann"
    assert html is not None and "<b>Ann</b>" in html.get_content()


def test_a_wrong_password_or_a_dead_server_is_unreachable(smtp_auth: Smtp) -> None:
    wrong = EmailChannel("127.0.0.1", smtp_auth.port, user="kam", password="guess", timeout=5)
    with pytest.raises(Unreachable, match="SMTPAuthenticationError"):
        wrong.send(MSG)
    dead = EmailChannel("127.0.0.1", free_port(), timeout=5)
    with pytest.raises(Unreachable, match="Connection refused"):
        dead.send(MSG)
    assert smtp_auth.mails() == []


def test_a_webhook_posts_slack_compatible_json_and_tells_failures_apart() -> None:
    hook = Hook([500])
    try:
        channel = WebhookChannel(timeout=5)
        with pytest.raises(SendError, match="HTTP 500") as failed:
            channel.send(Message(**{**MSG.__dict__, "address": f"{hook.url}/t"}))
        assert not isinstance(failed.value, Unreachable)
        channel.send(Message(**{**MSG.__dict__, "address": f"{hook.url}/t"}))
        channel.close()
        (body,) = hook.bodies
        assert body["text"] == "*Escalated (level 1): plan for Acme*\nHello Ann\n"
        assert body["why"]["reason"] == "late" and body["key"] == MSG.dedupe_key
        with pytest.raises(Unreachable):
            channel.send(Message(**{**MSG.__dict__,
                                    "address": f"http://127.0.0.1:{free_port()}/x"}))
        with pytest.raises(SendError, match="no webhook_url"):
            channel.send(MSG)
        channel.close()
    finally:
        hook.close()


def test_the_log_channel_appends_json_lines_or_logs(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "out.jsonl"
    LogChannel(path).send(MSG)
    LogChannel(path).send(MSG)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 2 and lines[0]["id"] == MSG.dedupe_key
    with caplog.at_level(logging.INFO, logger="kamflow.notifications"):
        LogChannel().send(MSG)
    assert MSG.subject in caplog.text
