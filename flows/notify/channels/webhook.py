"""A generic webhook: the alert is POSTed as a JSON object. ``post_json`` is also the Slack channel's and the
promotion webhook's transport."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.error
import urllib.request
from typing import Any

from driftwarden.config.alerts import WebhookChannel
from driftwarden.flows.notify.channels.base import DeliveryError, RemoteNotifier, register_channel

USER_AGENT = "driftwarden-alerts/1"


class _Tracked:
    """The connections an opener makes, so that a deadline can cut them: a socket timeout bounds each read, and
    a server that trickles a byte every few seconds never trips it."""

    def __init__(self) -> None:
        self.connections: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()
        self.cut = False

    def opener(self) -> urllib.request.OpenerDirector:
        tracked = self

        def make(cls: type[http.client.HTTPConnection]) -> Any:
            def factory(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
                conn = cls(*args, **kwargs)
                with tracked.lock:
                    tracked.connections.append(conn)
                return conn

            return factory

        class Http(urllib.request.HTTPHandler):
            def http_open(self, req: Any) -> Any:
                return self.do_open(make(http.client.HTTPConnection), req)

        class Https(urllib.request.HTTPSHandler):
            def https_open(self, req: Any) -> Any:
                return self.do_open(make(http.client.HTTPSConnection), req, context=self._context)  # type: ignore[attr-defined]

        return urllib.request.build_opener(Http(), Https())

    def cut_all(self) -> None:
        with self.lock:
            self.cut = True
            for conn in self.connections:
                sock = conn.sock
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once
                    except OSError:
                        pass


def post_json(url: str, body: Any, timeout: float, idempotency_key: str | None = None) -> None:
    """One POST of ``body`` as JSON (with an ``Idempotency-Key`` header when given one). Raises DeliveryError
    (a 4xx other than 429, or a URL that is not one, is permanent); its text never quotes the URL."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    req = urllib.request.Request(url, data=json.dumps(body, default=str).encode(), headers=headers, method="POST")
    tracked = _Tracked()
    deadline = threading.Timer(timeout, tracked.cut_all)  # the timeout bounds the whole delivery
    deadline.daemon = True
    deadline.start()
    try:
        with tracked.opener().open(req, timeout=timeout) as resp:
            resp.read(65536)
    except (http.client.InvalidURL, ValueError):  # their messages quote the URL, which holds the secret
        raise DeliveryError("the channel's URL is not a valid URL", permanent=True) from None
    except (OSError, http.client.HTTPException) as exc:
        if not tracked.cut:
            raise _delivery_error(exc) from None
        raise DeliveryError(f"timed out: no complete answer within timeout_seconds {timeout:g}") from None
    finally:
        deadline.cancel()


def _delivery_error(exc: BaseException) -> DeliveryError:
    """A transport error in words that never quote the URL (it may hold the secret)."""
    if isinstance(exc, urllib.error.HTTPError):
        permanent = 400 <= exc.code < 500 and exc.code != 429  # a bad request is not retried within the run
        return DeliveryError(f"HTTP {exc.code} {exc.reason}", permanent)
    if isinstance(exc, urllib.error.URLError):
        return DeliveryError(f"cannot reach the endpoint: {exc.reason}")
    return DeliveryError(f"the endpoint broke off: {type(exc).__name__}")


@register_channel(WebhookChannel)
class WebhookNotifier(RemoteNotifier[WebhookChannel]):
    secret_field = "url"

    def notify(self, payload: dict[str, Any], secret: str | None) -> None:
        post_json(secret or "", payload, self.config.timeout_seconds, payload.get("idempotency_key"))
