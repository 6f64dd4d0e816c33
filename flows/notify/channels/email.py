"""Email over SMTP (plain text). A password is only ever sent encrypted, except to a loopback host."""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from driftwarden.config.alerts import EmailChannel
from driftwarden.flows.notify.channels.base import DeliveryError, RemoteNotifier, register_channel


@register_channel(EmailChannel)
class EmailNotifier(RemoteNotifier[EmailChannel]):
    secret_field = "password"

    def notify(self, payload: dict[str, Any], secret: str | None) -> None:
        channel, password = self.config, secret
        msg = EmailMessage()
        msg["Subject"] = payload["title"]
        msg["From"] = channel.sender
        msg["To"] = ", ".join(channel.to)
        key = payload.get("idempotency_key")
        if key:  # the same message on a retry: a receiver (or a mail filter) can drop the copy
            msg["Message-ID"] = f"<{key}@driftwarden>"
            msg["X-Idempotency-Key"] = key
        msg.set_content(payload["text"])
        encrypted = channel.ssl or channel.starttls
        if channel.username and password and not encrypted and not _loopback(channel.host):
            raise DeliveryError(
                f"refusing to send the SMTP password unencrypted to {channel.host}: set starttls or ssl",
                permanent=True,
            )
        context = ssl.create_default_context()  # the server's certificate and host name are verified
        if channel.ssl:
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                channel.host, channel.port, timeout=channel.timeout_seconds, context=context
            )
        else:
            server = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds)
        with server as smtp:
            if channel.starttls:
                smtp.starttls(context=context)
            if channel.username and password:
                smtp.login(channel.username, password)
            smtp.send_message(msg)


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
