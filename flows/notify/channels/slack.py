"""A Slack-compatible incoming webhook: the alert is POSTed as ``{"text": ...}`` with mrkdwn blocks."""

from __future__ import annotations

from typing import Any

from driftwarden.checks.alerting import slack_payload
from driftwarden.config.alerts import SlackChannel
from driftwarden.flows.notify.channels.base import RemoteNotifier, register_channel
from driftwarden.flows.notify.channels.webhook import post_json


@register_channel(SlackChannel)
class SlackNotifier(RemoteNotifier[SlackChannel]):
    secret_field = "url"

    def notify(self, payload: dict[str, Any], secret: str | None) -> None:
        post_json(secret or "", slack_payload(payload), self.config.timeout_seconds, payload.get("idempotency_key"))
