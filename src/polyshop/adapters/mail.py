"""The logging mailer: the embedded profile's email, written to the `polyshop.mail` log.

A development machine has no mail server; the messages a person would receive (registration
outcomes) appear in the log instead, one line each. Another adapter of `ports.Mailer` (SMTP,
a provider's API) plugs in at the composition root.
"""

from __future__ import annotations

import logging

from polyshop.ports import Message

log = logging.getLogger("polyshop.mail")


class LoggingMailer:
    name = "log"

    async def send(self, message: Message) -> None:
        log.info(
            "mail to %s (shop %s): %s | %s",
            message.to, message.tenant_id, message.subject, message.body,
        )  # fmt: skip
