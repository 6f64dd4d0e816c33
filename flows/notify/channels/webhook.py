"""A generic webhook: the alert is POSTed as a JSON object. ``post_json`` is also the Slack channel's and the
promotion webhook's transport."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

from driftwarden.config.alerts import WebhookChannel
from driftwarden.flows.notify.channels.base import DeliveryError, RemoteNotifier, register_channel

USER_AGENT = "driftwarden-alerts/1"


def post_json(url: str, body: Any, timeout: float) -> None:
    """One POST of ``body`` as JSON. Raises DeliveryError (a 4xx other than 429, or a URL that is not one, is
    permanent); its text never quotes the URL."""
    req = urllib.request.Request(
        url,
        data=json.dumps(body, default=str).encode(),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        method="POST",
    )
    try:
        # the timeout bounds the connect and every read of the socket
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read(65536)
    except (http.client.InvalidURL, ValueError):  # their messages quote the URL, which holds the secret
        raise DeliveryError("the channel's URL is not a valid URL", permanent=True) from None
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code != 429  # a bad request is not retried within the run
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}", permanent) from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"cannot reach the endpoint: {exc.reason}") from None


@register_channel(WebhookChannel)
class WebhookNotifier(RemoteNotifier[WebhookChannel]):
    secret_field = "url"

    def notify(self, payload: dict[str, Any], secret: str | None) -> None:
        post_json(secret or "", payload, self.config.timeout_seconds)
