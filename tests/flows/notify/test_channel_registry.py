"""The alert channels' registry agrees with config/alerts.py's channel union, and the promotion webhook goes
through the webhook channel: its attempts, and its scrubbing of the secret. No Prefect server is needed."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, get_args

import pytest

from driftwarden.config.alerts import Channel, WebhookChannel
from driftwarden.config.model import ModelConfig
from driftwarden.flows.notify.channels import CHANNELS, DeliveryError, channel_type, notifier_class, notifier_for
from driftwarden.flows.retrain.tasks import champion_moved
from tests.streams import agrawal_config

SECRET = "tok-5EcR3t-0042"


@pytest.fixture(scope="module", autouse=True)
def _flows_share_one_prefect_server():
    """Overrides tests/flows/conftest.py's: nothing here talks to Prefect."""
    yield


def test_the_channel_unions_type_literals_name_exactly_the_registered_channels():
    union, _ = get_args(Channel)  # Annotated[A | B | ..., Field(discriminator="type")]
    models = {channel_type(m): m for m in get_args(union)}
    assert sorted(models) == sorted(CHANNELS) == ["email", "file", "slack", "webhook"]
    assert {kind: cls.config_model for kind, cls in CHANNELS.items()} == models
    assert all(cls.kind == kind for kind, cls in CHANNELS.items())


def test_an_unknown_channel_type_lists_the_registered_ones(tmp_path):
    with pytest.raises(DeliveryError, match="'teams'.*email, file, slack, webhook") as raised:
        notifier_class("teams")
    assert raised.value.permanent
    teams = WebhookChannel.model_construct(type="teams", url="${TEAMS_URL}")  # a type the union does not know
    with pytest.raises(DeliveryError, match="email, file, slack, webhook"):
        notifier_for("chat", teams, model(tmp_path))


def model(tmp_path: Path, **retrain: Any) -> ModelConfig:
    return ModelConfig.model_validate({**agrawal_config(retrain=retrain), "base_dir": tmp_path})


class Failing:
    """A real HTTP endpoint on 127.0.0.1 that answers every POST with HTTP 500 and counts them."""

    def __init__(self) -> None:
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts += 1
                self.send_response(500)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_failing_promotion_webhook_is_retried_and_never_logs_its_secret(tmp_path, monkeypatch, caplog):
    hook = Failing()
    try:
        monkeypatch.setenv("PROMOTION_HOOK", f"http://127.0.0.1:{hook.port}/promoted/{SECRET}?token={SECRET}")
        caplog.set_level(logging.DEBUG)
        assert champion_moved(model(tmp_path, webhook_url="${PROMOTION_HOOK}"), None, 2, ["better"]) is None
    finally:
        hook.server.shutdown()
        hook.server.server_close()
    assert hook.posts == WebhookChannel.model_fields["attempts"].default == 2  # the webhook channel's attempts
    assert "the promotion webhook (retrain.webhook_url) failed: HTTP 500" in caplog.text
    assert SECRET not in caplog.text


def test_a_promotion_webhook_error_that_quotes_the_url_is_scrubbed(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PROMOTION_HOOK", f"not-a-url-{SECRET}")
    caplog.set_level(logging.DEBUG)
    champion_moved(model(tmp_path, webhook_url="${PROMOTION_HOOK}"), None, 2, ["better"])
    assert "the promotion webhook (retrain.webhook_url) failed: ValueError: unknown url type: '***'" in caplog.text
    assert SECRET not in caplog.text


def test_an_unset_promotion_webhook_names_the_setting(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("PROMOTION_HOOK", raising=False)
    champion_moved(model(tmp_path, webhook_url="${PROMOTION_HOOK}"), None, 2, ["better"])
    assert "retrain.webhook_url: environment variable PROMOTION_HOOK is not set" in caplog.text
