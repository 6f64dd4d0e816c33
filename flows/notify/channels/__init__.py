"""Alert channels: one class per ``type`` of config/alerts.py's ``Channel`` union, found by that type.

To add one: its config model (with a ``type`` literal) in that union, a module here with its class under
``@register_channel(ThatChannel)``, and the module's import below; tests/flows/notify/test_channel_registry.py
fails while the union and the registry disagree.
"""

from driftwarden.flows.notify.channels import email, file, slack, webhook  # noqa: F401 (importing registers)
from driftwarden.flows.notify.channels.base import (
    CHANNELS,
    DeliveryError,
    Notifier,
    RemoteNotifier,
    channel_type,
    notifier_class,
    notifier_for,
    register_channel,
)

__all__ = [
    "CHANNELS",
    "DeliveryError",
    "Notifier",
    "RemoteNotifier",
    "channel_type",
    "notifier_class",
    "notifier_for",
    "register_channel",
]
