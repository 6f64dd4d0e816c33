"""Alert delivery against real receivers on 127.0.0.1 (HTTP and SMTP), the outbox, the spool, the CLI,
and two monitor-model runs end to end. No network call is mocked."""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import get_settings
from driftwarden.flows import store
from driftwarden.flows.cli.app import app
from driftwarden.flows.notify import delivery as alerts
from driftwarden.flows.store import alerts as alert_store
from tests.streams import agrawal_config, write_agrawal_sources

SECRET = "tok-5EcR3t-0042"
runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A real HTTP endpoint in a thread: records what it gets; ``mode`` ok, fail (HTTP 500) or hang."""

    def __init__(self, port: int | None = None, mode: str = "ok"):
        self.port = port or free_port()
        self.mode = mode
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.mode == "hang":
                    receiver.release.wait(30)
                    return
                receiver.got.append((self.path, body))
                self.send_response(500 if receiver.mode == "fail" else 200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}?token={SECRET}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def start(port: int | None = None, mode: str = "ok") -> Receiver:
        r = Receiver(port, mode)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


def model(tmp_path: Path, channels: dict[str, Any], **alerts_cfg: Any) -> ModelConfig:
    data = agrawal_config(alerts={"channels": channels, **alerts_cfg})
    return ModelConfig.model_validate({**data, "base_dir": tmp_path})


def failed_window(day: int = 10, as_of: str | None = None) -> dict[str, Any]:
    start = pd.Timestamp(f"2025-02-{day:02d}", tz="UTC")
    return {
        "model": "agrawal",
        "window_start": start.isoformat(),
        "window_end": (start + pd.Timedelta(days=1)).isoformat(),
        "run_version": 1,
        "trigger": "run",
        "as_of": as_of or (start + pd.Timedelta(days=1)).isoformat(),
        "status": "failed",
        "causes": [],
        "summary": "FAILED: SourceError: predictions.csv lacks column salary",
        "error": "SourceError: predictions.csv lacks column salary",
        "report": None,
        "failures_logged": 0,
    }


def url(dw_home: Path) -> str:
    return get_settings().resolved_store_url()


def everything_stored(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return "\n".join(
            json.dumps([list(r) for r in conn.execute(sa.select(t))], default=str) for t in store.metadata.sorted_tables
        )


def test_webhook_and_slack_get_the_alert_and_the_secret_stays_out(dw_home, tmp_path, receivers, monkeypatch, caplog):
    hook, slack = receivers(), receivers()
    monkeypatch.setenv("HOOK_URL", hook.url())
    monkeypatch.setenv("SLACK_URL", slack.url("/services/T0/B0"))
    cfg = model(
        tmp_path,
        {"ops": {"type": "webhook", "url": "${HOOK_URL}"}, "chat": {"type": "slack", "url": "${SLACK_URL}"}},
        runbook_url="https://wiki.example/agrawal",
    )
    caplog.set_level(logging.DEBUG)
    report = alerts.notify(cfg, url(dw_home), failed_window())
    assert report.error is None and (report.queued, report.sent, report.failed) == (2, 2, 0)
    [(path, body)] = hook.got
    assert path == f"/hook?token={SECRET}"
    assert body["kind"] == "alert" and body["severity"] == "critical" and body["model"] == "agrawal"
    assert body["conditions"][0]["key"] == "agrawal/run_failed/run"
    assert (
        "predictions.csv lacks column salary" in body["text"]
        and "Runbook: https://wiki.example/agrawal" in body["text"]
    )
    [(_, sbody)] = slack.got
    assert sbody["text"] == "[driftwarden] CRITICAL agrawal: run failed in window 2025-02-10"
    assert sbody["blocks"][0]["text"]["text"] == body["text"]
    # the same failure the next night: no second message (cooldown 24h from the first one)
    report = alerts.notify(cfg, url(dw_home), failed_window(11, as_of="2025-02-11T06:00:00+00:00"))
    assert report.decisions == {"suppress/cooldown": 1} and len(hook.got) == 1
    engine = store.open_store(url(dw_home))
    stored = everything_stored(engine)
    assert "alert" in stored and SECRET not in stored and "127.0.0.1" not in stored
    assert SECRET not in caplog.text and SECRET not in body["text"]


def test_a_receiver_that_is_down_gets_the_alert_on_the_next_run(dw_home, tmp_path, receivers, monkeypatch):
    port = free_port()  # nothing listens here yet
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{port}/hook?token={SECRET}")
    cfg = model(tmp_path, {"ops": {"type": "webhook", "url": "${HOOK_URL}", "attempts": 2}})
    report = alerts.notify(cfg, url(dw_home), failed_window())
    assert (report.queued, report.sent, report.failed) == (1, 0, 1)
    engine = store.open_store(url(dw_home))
    [row] = alert_store.outbox_rows(engine, "agrawal").to_dict("records")
    assert row["status"] == "pending" and row["attempts"] == 1 and "cannot reach the endpoint" in row["last_error"]

    hook = receivers(port)  # it comes back
    report = alerts.notify(cfg, url(dw_home), failed_window(11, as_of="2025-02-11T06:00:00+00:00"))
    assert report.sent == 1 and report.queued == 0  # the outbox re-sent the first alert; no storm
    [(_, body)] = hook.got
    assert body["conditions"][0]["key"] == "agrawal/run_failed/run"
    assert alert_store.outbox_rows(engine, "agrawal").empty


def test_a_hanging_receiver_costs_one_bounded_timeout_and_is_recorded(dw_home, tmp_path, receivers, monkeypatch):
    hang = receivers(mode="hang")
    monkeypatch.setenv("HOOK_URL", hang.url())
    cfg = model(tmp_path, {"ops": {"type": "webhook", "url": "${HOOK_URL}", "timeout_seconds": 1, "attempts": 1}})
    engine = store.open_store(url(dw_home))
    alert_store.enqueue(engine, [alert_store.Queued("agrawal", "ops", {"title": "t", "text": "x"})] * 3)
    report = alerts.notify(cfg, url(dw_home), failed_window())
    assert report.error is None and report.sent == 0 and report.failed == 1
    rows = alert_store.outbox_rows(engine, "agrawal")
    assert len(rows) == 4 and set(rows["status"]) == {"pending"}
    assert rows["attempts"].tolist() == [1, 0, 0, 0]  # the channel was skipped after its first timeout
    assert "timed out" in rows["last_error"].iloc[0]


def test_email_over_a_real_smtp_server_with_login(dw_home, tmp_path, monkeypatch):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    got: list[Any] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            got.append(envelope)
            return "250 OK"

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == SECRET.encode()
        return AuthResult(success=ok)

    port = free_port()
    smtp = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False)
    smtp.start()
    try:
        monkeypatch.setenv("SMTP_PASSWORD", SECRET)
        channel = {"type": "email", "host": "127.0.0.1", "port": port, "sender": "driftwarden@example.org",
                   "to": ["oncall@example.org"], "username": "monitor", "password": "${SMTP_PASSWORD}",
                   "timeout_seconds": 2, "attempts": 1}  # fmt: skip
        cfg = model(tmp_path, {"mail": channel})
        report = alerts.notify(cfg, url(dw_home), failed_window())
        assert (report.sent, report.failed) == (1, 0)
        [envelope] = got
        assert envelope.rcpt_tos == ["oncall@example.org"]
        text = envelope.content.decode()
        assert "Subject: [driftwarden] CRITICAL agrawal: run failed" in text and "lacks column salary" in text
        # a wrong password is a recorded failure, never a crash, and the secret is not in the error
        monkeypatch.setenv("SMTP_PASSWORD", "wrong-" + SECRET)
        engine = store.open_store(url(dw_home))
        alert_store.enqueue(engine, [alert_store.Queued("agrawal", "mail", {"title": "t", "text": "x"})])
        assert alerts.deliver(cfg, engine) == (0, 1, 0)
        [error] = alert_store.outbox_rows(engine, "agrawal")["last_error"].tolist()
        assert error.startswith("SMTP") and len(got) == 1
        assert SECRET not in everything_stored(engine)
    finally:
        smtp.stop()


def test_an_unusable_url_is_recorded_with_the_secret_scrubbed(dw_home, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("HOOK_URL", f"not-a-url-{SECRET}")
    cfg = model(tmp_path, {"ops": {"type": "webhook", "url": "${HOOK_URL}", "attempts": 1}})
    caplog.set_level(logging.DEBUG)
    report = alerts.notify(cfg, url(dw_home), failed_window())
    assert report.failed == 1
    [error] = alert_store.outbox_rows(store.open_store(url(dw_home)), "agrawal")["last_error"].tolist()
    assert "unknown url type" in error and "***" in error and SECRET not in error and SECRET not in caplog.text


def test_when_the_store_is_down_alerts_are_spooled_tried_directly_and_drained_later(
    dw_home, tmp_path, receivers, monkeypatch
):
    port = free_port()
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{port}/hook?token={SECRET}")
    cfg = model(tmp_path, {"ops": {"type": "webhook", "url": "${HOOK_URL}", "attempts": 1}})
    broken = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"  # nothing listens on port 1
    report = alerts.notify(cfg, broken, failed_window())
    assert report.spooled == 1 and report.failed == 1 and report.error is not None
    spooled = alerts.spool_path().read_text()
    assert "agrawal/run_failed/run" in spooled and SECRET not in spooled
    hook = receivers(port)
    # the store is back: the next run moves the spool into the outbox and delivers it
    report = alerts.notify(cfg, url(dw_home), failed_window(11))
    assert not alerts.spool_path().exists()
    bodies = [b for _, b in hook.got]
    assert [b["conditions"][0]["key"] for b in bodies] == ["agrawal/run_failed/run"] * 2
    assert report.sent == 2


def cli(*args: str):
    result = runner.invoke(app, list(args), catch_exceptions=False)
    return result


def write_config(tmp_path: Path, alerts_cfg: dict[str, Any]) -> Path:
    return write_agrawal_sources(tmp_path / "agrawal", config=agrawal_config(alerts=alerts_cfg))


def test_mute_ack_and_the_alerts_command(dw_home, tmp_path):
    path = write_config(tmp_path, {"channels": {"log": {"type": "file", "path": "alerts.jsonl"}}})
    assert cli("mute", "--config", str(path), "--check", "drift", "--for", "3d", "--reason", "x").exit_code == 2
    assert cli("mute", "--config", str(path), "--check", "kpi", "--for", "soon", "--reason", "x").exit_code == 2
    assert cli("ack", "--config", str(path), "--key", "agrawal/kpi/accuracy").exit_code == 2
    muted = cli("mute", "--config", str(path), "--check", "run_failed", "--for", "3d", "--reason", "feed migration")
    assert muted.exit_code == 0, muted.output
    cfg = ModelConfig.model_validate({**yaml.safe_load(path.read_text()), "base_dir": path.parent})
    now = store.now_utc().isoformat()
    report = alerts.notify(cfg, url(dw_home), failed_window(as_of=now))
    assert report.decisions == {"suppress/muted": 1} and not (path.parent / "alerts.jsonl").exists()
    shown = cli("alerts", "--config", str(path), "--json")
    doc = json.loads(shown.stdout)
    assert [c["key"] for c in doc["open"]] == ["agrawal/run_failed/run"]
    assert doc["mutes"][0]["reason"] == "feed migration" and doc["outbox"] == []
    assert cli("unmute", "--config", str(path), "--check", "run_failed").exit_code == 0
    report = alerts.notify(cfg, url(dw_home), failed_window(as_of=store.now_utc().isoformat()))
    assert report.decisions == {"alert/new": 1} and report.sent == 1
    [line] = (path.parent / "alerts.jsonl").read_text().splitlines()
    assert json.loads(line)["channel"] == "log"
    acked = cli("ack", "--config", str(path), "--key", "agrawal/run_failed/run")
    assert acked.exit_code == 0, acked.output
    assert json.loads(cli("alerts", "--config", str(path), "--json").stdout)["open"][0]["acknowledged"] is True
    table = cli("alerts", "--config", str(path))
    assert table.exit_code == 0 and "agrawal/run_failed/run" in table.stdout and "outbox: 0 pending" in table.stdout
    assert cli("alerts").exit_code == 2
    flushed = cli("alerts", "flush", "--config", str(path))
    assert flushed.exit_code == 0 and "0 sent" in flushed.output


def test_check_silence_alerts_when_a_model_goes_quiet(dw_home, tmp_path):
    path = write_config(
        tmp_path,
        {"channels": {"log": {"type": "file", "path": "alerts.jsonl"}}, "silence": {"no_run": "36h"}},
    )
    assert cli("alerts", "check-silence", "--config", str(path)).exit_code == 1  # never ran
    [line] = (path.parent / "alerts.jsonl").read_text().splitlines()
    msg = json.loads(line)
    assert msg["conditions"][0]["key"] == "agrawal/silence/no_run" and "no successful run ever" in msg["text"]
    assert cli("alerts", "check-silence", "--config", str(path)).exit_code == 1  # still quiet, no second message
    assert len((path.parent / "alerts.jsonl").read_text().splitlines()) == 1
    no_threshold = write_config(tmp_path / "b", {})
    assert cli("alerts", "check-silence", "--config", str(no_threshold)).exit_code == 2


@pytest.mark.slow
def test_monitor_runs_alert_once_per_condition_and_resolve(dw_home, tmp_path, receivers, monkeypatch):
    hook = receivers()
    monkeypatch.setenv("HOOK_URL", hook.url())
    path = write_config(
        tmp_path,
        {
            "channels": {"ops": {"type": "webhook", "url": "${HOOK_URL}"}, "log": {"type": "file", "path": "a.jsonl"}},
            "routes": {"critical": ["ops", "log"], "warning": ["log"]},
            "cooldown": "7d",
            "worsen_step": 0.5,
        },
    )
    log = path.parent / "a.jsonl"
    # a backfill is silent unless asked
    quiet = cli("backfill", "--config", str(path), "--start", "2025-02-18", "--end", "2025-02-19", "--json")
    assert quiet.exit_code == 0 and not log.exists() and hook.got == []
    # the concept change (2025-02-20 16:00) is found as labels mature, two days late, on consecutive windows
    loud = cli("backfill", "--config", str(path), "--start", "2025-02-19", "--end", "2025-02-25", "--alerts", "--json")
    assert loud.exit_code == 0, loud.output
    bodies = [b for _, b in hook.got]
    kpi_alerts = [b for b in bodies if any(c["key"] == "agrawal/kpi/accuracy" for c in b["conditions"])]
    assert len(kpi_alerts) == 1, [b["title"] for b in bodies]  # one alert, not one per window
    text = kpi_alerts[0]["text"]
    assert "accuracy 0." in text and "below target 0.9" in text
    assert "Likely cause: The model got worse and the cause is not known" in text
    assert kpi_alerts[0]["title"].startswith("[driftwarden] CRITICAL agrawal: KPI in window 2025-02-2")
    assert all(SECRET not in json.dumps(b) for b in bodies)
    assert len(log.read_text().splitlines()) >= len(bodies)

    # a failed run alerts; the next good run of it resolves
    preds = path.parent / "predictions.csv"
    good = preds.read_bytes()
    preds.write_bytes(b"\x00\xff\x13garbage" * 10)
    failed = cli("run", "--config", str(path), "--window-end", "2025-02-26", "--json")
    assert failed.exit_code == 1
    assert hook.got[-1][1]["conditions"][0]["key"] == "agrawal/run_failed/run"
    preds.write_bytes(good)
    cli("run", "--config", str(path), "--window-end", "2025-02-26", "--json")
    resolved = [b for _, b in hook.got if b["kind"] == "resolved"]
    assert any(c["key"] == "agrawal/run_failed/run" for b in resolved for c in b["conditions"])

    # the dead-man's switch over these runs: the last window with rows ended 2025-02-26 00:00 UTC
    silent = model(tmp_path, {"pager": {"type": "file", "path": "silence.jsonl"}}, silence={"no_rows": "2d"})
    report = alerts.check_silence(silent, url(dw_home), now=datetime(2025, 2, 27, 12))
    assert report.decisions == {} and not (tmp_path / "silence.jsonl").exists()
    report = alerts.check_silence(silent, url(dw_home), now=datetime(2025, 3, 10))
    assert report.decisions == {"alert/new": 1} and report.sent == 1
    msg = json.loads((tmp_path / "silence.jsonl").read_text())
    assert msg["conditions"][0]["key"] == "agrawal/silence/no_rows"
    assert "no window with rows since 2025-02-26 00:00 UTC (12.0 days); allowed: 2d" in msg["text"]


@pytest.mark.postgres
def test_the_alert_tables_on_postgresql(postgres_url, dw_home, tmp_path):
    cfg = model(tmp_path, {"log": {"type": "file", "path": "alerts.jsonl"}})
    report = alerts.notify(cfg, postgres_url, failed_window())
    assert report.error is None and (report.queued, report.sent) == (1, 1)
    report = alerts.notify(cfg, postgres_url, failed_window(11, as_of="2025-02-11T06:00:00+00:00"))
    assert report.decisions == {"suppress/cooldown": 1}
    engine = store.open_store(postgres_url)
    assert alert_store.acknowledge(engine, "agrawal", "agrawal/run_failed/run")
    assert alert_store.open_conditions(engine, "agrawal")["acknowledged"].tolist() == [True]
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1


def test_a_url_from_a_prefect_secret_block(dw_home, tmp_path, receivers, monkeypatch):
    from prefect.blocks.system import Secret

    hook = receivers()
    Secret(value=hook.url("/from-block")).save("dw-alerts-test-hook", overwrite=True)
    cfg = model(tmp_path, {"ops": {"type": "webhook", "url": "{{ prefect.blocks.secret.dw-alerts-test-hook }}"}})
    report = alerts.notify(cfg, url(dw_home), failed_window())
    assert (report.sent, report.failed) == (1, 0)
    [(path, _)] = hook.got
    assert path == f"/from-block?token={SECRET}"
    assert SECRET not in everything_stored(store.open_store(url(dw_home)))
    missing = model(tmp_path, {"ops": {"type": "webhook", "url": "{{ prefect.blocks.secret.dw-no-such-block }}"}})
    engine = store.open_store(url(dw_home))
    alert_store.enqueue(engine, [alert_store.Queued("agrawal", "ops", {"title": "t", "text": "x"})])
    assert alerts.deliver(missing, engine) == (0, 1, 0)
    [error] = alert_store.outbox_rows(engine, "agrawal")["last_error"].tolist()
    assert "dw-no-such-block" in error


def test_the_scheduled_dead_mans_switch_flow_alerts_on_a_model_that_never_ran(dw_home, tmp_path):
    from driftwarden.flows.monitor.watchdog import check_silence

    path = write_config(
        tmp_path, {"channels": {"log": {"type": "file", "path": "alerts.jsonl"}}, "silence": {"no_run": "36h"}}
    )
    result = check_silence(str(path))
    assert result["watched"] and result["sent"] == 1
    [line] = (path.parent / "alerts.jsonl").read_text().splitlines()
    assert json.loads(line)["conditions"][0]["key"] == "agrawal/silence/no_run"
    assert check_silence(str(write_config(tmp_path / "b", {})))["watched"] is False


def test_a_store_down_at_the_start_of_a_run_still_reaches_the_people_on_call(dw_home, tmp_path, monkeypatch):
    channels = {"log": {"type": "file", "path": "alerts.jsonl"}}
    path = write_config(tmp_path, {"channels": channels, "silence": {"no_run": "36h"}})
    monkeypatch.setenv("DRIFTWARDEN_STORE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    get_settings.cache_clear()
    result = cli("run", "--config", str(path), "--window-end", "2025-02-10", "--json")
    assert result.exit_code == 1
    [sent] = [json.loads(line) for line in (path.parent / "alerts.jsonl").read_text().splitlines()]
    assert sent["severity"] == "critical" and sent["conditions"][0]["key"] == "agrawal/run_failed/run"
    silence = cli("alerts", "check-silence", "--config", str(path))
    assert silence.exit_code == 1
    said = [json.loads(line) for line in (path.parent / "alerts.jsonl").read_text().splitlines()]
    assert said[-1]["conditions"][0]["key"] == "agrawal/silence/store" and "cannot be reached" in said[-1]["text"]


def test_a_malformed_url_is_never_quoted(dw_home, tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:9/hook?token={SECRET} abc")
    cfg = model(tmp_path, {"ops": {"type": "webhook", "url": "${HOOK_URL}", "attempts": 1}})
    alerts.notify(cfg, url(dw_home), failed_window())
    with store.open_store(url(dw_home)).connect() as conn:
        errors = [r.last_error for r in conn.execute(sa.select(store.outbox))]
    assert errors and all(SECRET not in (e or "") and "not a valid URL" in (e or "") for e in errors)
    monkeypatch.setenv("HOOK_URL", f"http://nobody:{SECRET}@127.0.0.1:9/hook")  # refused: a port nobody serves
    alerts.notify(cfg, url(dw_home), failed_window(12))
    with store.open_store(url(dw_home)).connect() as conn:
        assert not any(SECRET in (r.last_error or "") for r in conn.execute(sa.select(store.outbox)))


def test_a_re_run_of_an_old_window_leaves_the_models_conditions_alone(dw_home, tmp_path):
    path = write_config(tmp_path, {"channels": {"log": {"type": "file", "path": "alerts.jsonl"}}})
    log = path.parent / "alerts.jsonl"
    cli("run", "--config", str(path), "--window-end", "2026-06-02")  # the feed is dead now: a volume breach
    assert "agrawal/volume/rows" in log.read_text()
    before = log.read_text()
    cli("run", "--config", str(path), "--window-end", "2025-02-10")  # an old, healthy window, re-run by hand
    assert log.read_text() == before  # no 'resolved' for a feed that is still dead
    engine = store.open_store(url(dw_home))
    assert alert_store.load_conditions(engine, "agrawal")["agrawal/volume/rows"].state == "open"


def test_a_webhook_that_trickles_is_cut_at_its_timeout_and_one_that_answers_is_delivered():
    """A server that sends its answer a byte every 0.3 s never trips a socket timeout of 1 s: the timeout must
    bound the whole delivery, not each read."""
    import time

    from driftwarden.flows.notify.channels import DeliveryError
    from driftwarden.flows.notify.channels.webhook import post_json

    def serve(conn: socket.socket, trickle: bool) -> None:
        with conn:
            conn.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            if not trickle:
                conn.sendall(answer)
                return
            for byte in answer:
                try:
                    conn.sendall(bytes([byte]))
                except OSError:  # the client cut it
                    return
                time.sleep(0.3)

    for trickle in (True, False):
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]

        def accept(listener: socket.socket = listener, trickle: bool = trickle) -> None:
            with listener:
                conn, _ = listener.accept()
                serve(conn, trickle)

        threading.Thread(target=accept, daemon=True).start()
        started = time.monotonic()
        if trickle:
            with pytest.raises(DeliveryError, match="no complete answer within timeout_seconds 1"):
                post_json(f"http://127.0.0.1:{port}/hook?token=s3cret", {"text": "x"}, timeout=1.0)
            assert time.monotonic() - started < 3  # the whole answer would have taken ~20 s
        else:
            post_json(f"http://127.0.0.1:{port}/hook", {"text": "x"}, timeout=1.0)
