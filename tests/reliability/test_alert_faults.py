"""Alert endpoints that fail: a webhook that hangs, answers 500 or resets the connection, an SMTP server that
drops the connection in the middle of a message. Real servers on 127.0.0.1 (raw sockets where the fault is
below HTTP or SMTP, aiosmtpd when the mail server recovers). Each time the run finishes within its bounded
timeouts, the message waits in the outbox, and once the endpoint recovers the next run or ``driftwarden
alerts flush`` delivers it; the receiver counts what it accepted by idempotency key: none lost, none doubled."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.notify import delivery as alerts
from driftwarden.flows.store import alerts as alert_store
from tests.reliability.conftest import Observed, assert_as_table
from tests.streams import agrawal_config

SECRET = "tok-fault-7781"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reset(conn: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed proxy or a load balancer does."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class Endpoint:
    """An HTTP endpoint on a raw socket. ``mode``: ``ok`` (200, the message is accepted and counted), ``500``,
    ``hang`` (reads the request, never answers) or ``reset`` (reads part of the request, then resets)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.accepted: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.attempts = 0
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?token={SECRET}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        self.attempts += 1
        mode = self.mode
        try:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
                if mode == "reset":  # mid-request: before the body is read
                    _reset(conn)
                    return
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:] if ":" in h)}
            while len(body) < int(headers.get("content-length", 0)):
                body += conn.recv(65536)
            if mode == "hang":
                self.stop.wait(30)
                return
            if mode == "500":
                conn.sendall(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops"
                )
                return
            self.accepted.append((headers, json.loads(body)))
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


class DroppingSmtp:
    """An SMTP server that takes the envelope, starts the DATA and drops the connection mid-message."""

    def __init__(self, port: int) -> None:
        self.port, self.dropped = port, 0
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(0.2)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            try:
                self._session(conn)
            except OSError:
                pass

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        reader = conn.makefile("rb")
        conn.sendall(b"220 fake ESMTP\r\n")
        while line := reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250 fake\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                reader.readline()  # the first line of the message, then the line goes dead
                self.dropped += 1
                _reset(conn)
                return
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 OK\r\n")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)  # the port is free for the server that replaces it
        self.listener.close()


@pytest.fixture
def endpoints() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for e in started:
        e.close()


def _config(tmp_path: Path, channels: dict[str, Any]) -> Path:
    path = tmp_path / "agrawal.yaml"
    # a week's cooldown: the runs while the endpoint is down send no reminder (one alert per channel to count)
    path.write_text(yaml.safe_dump(agrawal_config(alerts={"channels": channels, "cooldown": "7d"})))
    return path


def _model(path: Path) -> ModelConfig:
    return ModelConfig.model_validate({**yaml.safe_load(path.read_text()), "base_dir": path.parent})


def failed_window(day: int) -> dict[str, Any]:
    """A failed run's summary: the alert every channel gets (critical), as the monitor hands it to notify."""
    start = pd.Timestamp(f"2025-02-{day:02d}", tz="UTC")
    error = "SourceError: predictions.csv lacks column salary"
    return {
        "model": "agrawal", "window_start": start.isoformat(), "window_end": (start + pd.Timedelta(days=1)).isoformat(),
        "run_version": 1, "trigger": "run", "as_of": (start + pd.Timedelta(days=1, hours=6)).isoformat(),
        "status": "failed", "causes": [], "summary": f"FAILED: {error}", "error": error, "report": None,
        "failures_logged": 0,
    }  # fmt: skip


def _outbox(engine: Any) -> pd.DataFrame:
    return alert_store.outbox_rows(engine, "agrawal", ("pending", "dead", "sent"))


def _flush(path: Path) -> Any:
    return CliRunner().invoke(app, ["alerts", "flush", "--config", str(path)], catch_exceptions=False)


def _count(expected: set[str], received: list[str], tally: Any) -> tuple[int, int]:
    """Alerts lost (queued, never accepted) and doubled (accepted twice), by idempotency key."""
    seen = Counter(received)
    lost = len(expected - set(seen))
    doubled = sum(n - 1 for n in seen.values() if n > 1) + sum(n for k, n in seen.items() if k not in expected)
    tally.add("alerts_lost", lost)
    tally.add("alerts_doubled", doubled)
    return lost, doubled


def _http_fault(mode: str, recover_by: str, tmp_path: Path, endpoints: list[Any], monkeypatch: Any, tally: Any):
    """One webhook and one Slack channel on a failing endpoint; two runs while it fails; then it recovers and
    ``recover_by`` (``run`` or ``flush``) delivers the backlog."""
    bad = Endpoint(mode)
    endpoints.append(bad)
    monkeypatch.setenv("HOOK_URL", bad.url())
    channel = {"url": "${HOOK_URL}", "timeout_seconds": 1, "attempts": 1}
    path = _config(tmp_path, {"ops": {"type": "webhook", **channel}, "chat": {"type": "slack", **channel}})
    cfg, url = _model(path), get_settings().resolved_store_url()
    began = time.monotonic()
    first = alerts.notify(cfg, url, failed_window(10))
    took = time.monotonic() - began
    # the run is not held up by the endpoint: one bounded try per channel
    assert first.error is None and (first.queued, first.sent, first.failed) == (2, 0, 2), first
    assert took < 20, f"the alerting step took {took:.1f} s against a {mode} endpoint"
    second = alerts.notify(cfg, url, failed_window(11))  # still down: the backlog is tried again, kept
    assert (second.sent, second.failed) == (0, 2), second
    engine = store.open_store(url)
    waiting = _outbox(engine)
    assert set(waiting["status"]) == {"pending"} and len(waiting) == 2, waiting
    assert all(SECRET not in str(e) for e in waiting["last_error"])
    assert bad.attempts == 4 and not bad.accepted  # each message tried once per run

    bad.mode = "ok"  # it recovers
    if recover_by == "flush":
        flushed = _flush(path)
        assert flushed.exit_code == 0 and "2 sent" in flushed.output, flushed.output
    else:
        alerts.notify(cfg, url, failed_window(12))
    assert _flush(path).exit_code == 0  # a flush after the backlog went out sends nothing twice
    rows = _outbox(engine)
    assert set(rows["status"]) == {"sent"}, rows
    expected = {json.loads(p)["idempotency_key"] for p in rows["payload"]}
    assert len(expected) == 2  # the webhook's and the Slack channel's copies are two messages
    received = []
    for headers, body in bad.accepted:
        assert headers["idempotency-key"] == body["idempotency_key"]  # the header and the body agree
        received.append(body["idempotency_key"])
    lost, doubled = _count(expected, received, tally)
    ok = lost == 0 and doubled == 0
    return Observed(
        "survives" if ok else "lost or doubled", f"{mode}: {lost} lost, {doubled} doubled, took {took:.1f}s"
    )


@pytest.mark.case("fault.alert_endpoint_hangs")
def test_an_endpoint_that_hangs(dw_home, tmp_path, endpoints, monkeypatch, tally):
    seen = _http_fault("hang", "run", tmp_path, endpoints, monkeypatch, tally)
    assert_as_table("fault.alert_endpoint_hangs", seen, tally)


@pytest.mark.case("fault.alert_endpoint_500")
def test_an_endpoint_that_answers_500(dw_home, tmp_path, endpoints, monkeypatch, tally):
    seen = _http_fault("500", "flush", tmp_path, endpoints, monkeypatch, tally)
    assert_as_table("fault.alert_endpoint_500", seen, tally)


@pytest.mark.case("fault.alert_endpoint_resets")
def test_an_endpoint_that_resets_the_connection(dw_home, tmp_path, endpoints, monkeypatch, tally):
    seen = _http_fault("reset", "run", tmp_path, endpoints, monkeypatch, tally)
    assert_as_table("fault.alert_endpoint_resets", seen, tally)


@pytest.mark.case("fault.smtp_drops_mid_message")
def test_an_smtp_server_that_drops_the_connection_mid_message(dw_home, tmp_path, endpoints, tally):
    from aiosmtpd.controller import Controller

    port = free_port()
    dropping = DroppingSmtp(port)
    endpoints.append(dropping)
    mail = {"type": "email", "host": "127.0.0.1", "port": port, "sender": "driftwarden@example.org",
            "to": ["oncall@example.org"], "timeout_seconds": 2, "attempts": 2}  # fmt: skip
    path = _config(tmp_path, {"mail": mail})
    cfg, url = _model(path), get_settings().resolved_store_url()
    began = time.monotonic()
    first = alerts.notify(cfg, url, failed_window(10))
    took = time.monotonic() - began
    assert first.error is None and (first.queued, first.sent, first.failed) == (1, 0, 1), first
    assert took < 20 and dropping.dropped == 2  # both attempts were cut mid-message
    engine = store.open_store(url)
    [row] = _outbox(engine).to_dict("records")
    assert row["status"] == "pending" and row["last_error"], row
    dropping.close()

    got: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            got.append(envelope.original_content or envelope.content)
            return "250 OK"

    smtp = Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()  # the server recovers on the same port
    try:
        flushed = _flush(path)
        assert flushed.exit_code == 0 and "1 sent" in flushed.output, flushed.output
        assert _flush(path).exit_code == 0
    finally:
        smtp.stop()
    rows = _outbox(engine)
    assert set(rows["status"]) == {"sent"}
    expected = {json.loads(p)["idempotency_key"] for p in rows["payload"]}
    received = []
    for raw in got:
        msg = message_from_bytes(raw)
        key = msg["X-Idempotency-Key"]
        assert msg["Message-ID"] == f"<{key}@driftwarden>" and "lacks column salary" in msg.get_payload()
        received.append(key)
    lost, doubled = _count(expected, received, tally)
    ok = lost == 0 and doubled == 0
    seen = Observed("survives" if ok else "lost or doubled", f"smtp: {lost} lost, {doubled} doubled, took {took:.1f}s")
    assert_as_table("fault.smtp_drops_mid_message", seen, tally)
