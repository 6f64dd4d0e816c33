"""The ``alerts:`` section of a model's YAML: where alerts go, how often, and when silence is a failure.

Secrets never live in YAML: a webhook URL or an SMTP password is written as a ``${ENV_VAR}`` placeholder
(read from the environment at delivery time by config/settings.env_secret) or as a Prefect Secret block
reference ``{{ prefect.blocks.secret.<block-name> }}`` (loaded at delivery time); a literal one is refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from driftwarden.config.common import Strict, parse_duration
from driftwarden.config.settings import PLACEHOLDER_ONLY

Severity = Literal["warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("warning", "critical")


def _duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


SECRET_BLOCK = r"\{\{\s*prefect\.blocks\.secret\.([a-z0-9][a-z0-9-]*)\s*\}\}"
"""A Prefect Secret block reference, as Prefect templates write it: ``{{ prefect.blocks.secret.name }}``."""


def _placeholder(value: str | None, what: str) -> None:
    if value is None:
        return
    if not (re.fullmatch(PLACEHOLDER_ONLY, value.strip()) or re.fullmatch(SECRET_BLOCK, value.strip())):
        raise ValueError(
            f"{what} must be an environment placeholder like ${{SLACK_WEBHOOK_URL}} or a Prefect Secret block "
            "reference like {{ prefect.blocks.secret.slack-webhook }}, never the secret itself"
        )


class _Http(Strict):
    url: str
    """The endpoint (it may hold a token): ``${ALERTS_WEBHOOK_URL}`` or ``{{ prefect.blocks.secret.<name> }}``."""
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    """Connect and read timeout of one delivery attempt."""
    attempts: int = Field(2, ge=1, le=5)
    """Delivery attempts within one run (one second apart); what still fails waits in the outbox for the
    next run or ``driftwarden alerts flush``."""

    @model_validator(mode="after")  # on the model, so that an error never echoes the value (a secret)
    def _url(self) -> _Http:
        _placeholder(self.url, "url")
        return self


class WebhookChannel(_Http):
    """A generic webhook: the alert is POSTed as a JSON object (title, text, severity, conditions...)."""

    type: Literal["webhook"]


class SlackChannel(_Http):
    """A Slack-compatible incoming webhook: the alert is POSTed as ``{"text": ...}`` with mrkdwn blocks."""

    type: Literal["slack"]


class EmailChannel(Strict):
    """Email over SMTP (plain text)."""

    type: Literal["email"]
    host: str
    """SMTP server host name."""
    port: int = Field(25, ge=1, le=65535)
    sender: str
    """The From address."""
    to: list[str] = Field(min_length=1)
    """Recipients."""
    username: str | None = None
    """SMTP login, if the server wants one."""
    password: str | None = None
    """SMTP password: ``${SMTP_PASSWORD}`` or ``{{ prefect.blocks.secret.<name> }}``."""
    starttls: bool = False
    """Upgrade the connection with STARTTLS before logging in (the server's certificate is verified)."""
    ssl: bool = False
    """Connect over TLS from the start (SMTPS, usually port 465). A password is only ever sent encrypted,
    except to a loopback host."""
    timeout_seconds: float = Field(5.0, gt=0, le=60)
    """Timeout of the SMTP connection and each command."""
    attempts: int = Field(2, ge=1, le=5)
    """Delivery attempts within one run; what still fails waits in the outbox."""

    @model_validator(mode="after")  # on the model, so that an error never echoes the value (a secret)
    def _login(self) -> EmailChannel:
        _placeholder(self.password, "password")
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password (as ${ENV_VAR}), or neither")
        if self.ssl and self.starttls:
            raise ValueError("give ssl (TLS from the start) or starttls (an upgrade), not both")
        return self


class FileChannel(Strict):
    """JSON lines appended to a local file: alerts without a network (the demo, a log shipper)."""

    type: Literal["file"]
    path: str
    """File to append to; a relative path is resolved against the YAML file's folder."""


Channel = Annotated[WebhookChannel | SlackChannel | EmailChannel | FileChannel, Field(discriminator="type")]


class SilenceConfig(Strict):
    """The dead-man's switch: silence is a failure too. Each threshold is a duration (``36h``, ``2d``) or
    null (not checked)."""

    no_run: str | None = None
    """Alert when the model has had no successful run for longer than this."""
    no_rows: str | None = None
    """Alert when no window ending within this long had any rows."""
    no_labels: str | None = None
    """Alert when no window ending within this long has any label yet (allow for the labels' delay)."""

    @field_validator("no_run", "no_rows", "no_labels")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return _duration(value)


class AlertsConfig(Strict):
    """Alerts people receive. With no channels nothing is sent, but conditions are still tracked."""

    channels: dict[str, Channel] = Field(default_factory=dict)
    """Named channels, e.g. ``oncall: {type: slack, url: "${SLACK_WEBHOOK_URL}"}``."""
    routes: dict[Severity, list[str]] = Field(default_factory=dict)
    """Severity -> channel names. Without routes, critical alerts go to every channel and warnings nowhere.
    ``critical``: breaches, failed runs and silence; ``warning``: signals below the breach rules."""
    cooldown: str = "24h"
    """An open condition is alerted again only after this long (unless it worsens)."""
    worsen_step: float = Field(0.05, gt=0)
    """An open condition is alerted again at once when its badness grew by this much since the last alert
    (a KPI this much further beyond its target, a drift score or a failing share this much higher)."""
    resolved: bool = True
    """Send a 'resolved' message when an alerted condition clears."""
    runbook_url: str | None = None
    """Link put in every message (not a secret)."""
    silence: SilenceConfig = SilenceConfig()
    max_attempts: int = Field(20, ge=1)
    """A message still undelivered after this many attempts (over runs) is given up and marked dead."""

    @field_validator("cooldown")
    @classmethod
    def _cooldown(cls, value: str) -> str:
        return _duration(value) or value

    @model_validator(mode="after")
    def _routes(self) -> AlertsConfig:
        for severity, names in self.routes.items():
            unknown = sorted(set(names) - set(self.channels))
            if unknown:
                raise ValueError(f"routes.{severity} names unknown channels {unknown}")
        return self

    def channels_for(self, severity: Severity) -> list[str]:
        """The channel names a message of this severity goes to."""
        if not self.routes:
            return sorted(self.channels) if severity == "critical" else []
        return list(self.routes.get(severity, []))
