"""The Mailer port's contract, for each adapter (today the logging one the profiles use):
a message reaches its recipient's channel with subject and body, and sending never raises
for an ordinary address (a failure must not tell a caller whether an account exists)."""

from __future__ import annotations

import logging
import uuid

import pytest

from polyshop.adapters.mail import LoggingMailer
from polyshop.ports import Mailer, Message


@pytest.fixture(params=["log"])
def mailer(request: pytest.FixtureRequest) -> Mailer:
    return {"log": LoggingMailer()}[request.param]


async def test_a_message_is_delivered_with_its_subject_and_body(
    mailer: Mailer, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = uuid.uuid4()
    with caplog.at_level(logging.INFO, logger="polyshop.mail"):
        await mailer.send(Message(tenant, "ann@example.com", "Welcome", "Your account is open."))
        await mailer.send(Message(tenant, "bob@example.com", "Hello", "Another one."))
    lines = [r.getMessage() for r in caplog.records if r.name == "polyshop.mail"]
    assert len(lines) == 2
    assert "ann@example.com" in lines[0] and "Welcome" in lines[0]
    assert "Your account is open." in lines[0] and str(tenant) in lines[0]
    assert "bob@example.com" in lines[1]
