"""What the fault cases share: a webhook receiver, a TCP proxy that can cut the store's connections, the CLI,
and the alert count (each message once, by its idempotency key when it has one)."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from driftwarden.config.settings import get_settings
from driftwarden.flows.cli.app import app
from tests.streams import agrawal_config, write_agrawal_sources

WINDOW_END = "2025-02-12"
"""A window of the agrawal stream with rows and labels."""
runner = CliRunner()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str) -> tuple[int, str, list[dict[str, Any]]]:
    """Exit code, everything printed, and the JSON lines."""
    result = runner.invoke(app, list(args), catch_exceptions=False)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, result.output, lines


def use_store(monkeypatch: Any, url: str | None) -> None:
    if url is None:
        monkeypatch.delenv("DRIFTWARDEN_STORE_URL", raising=False)
    else:
        monkeypatch.setenv("DRIFTWARDEN_STORE_URL", url)
    get_settings.cache_clear()


def agrawal_with_hook(folder: Path, port: int, monkeypatch: Any) -> Path:
    """The agrawal stream monitored with one webhook channel on 127.0.0.1:``port`` (tried once a run)."""
    monkeypatch.setenv("DW_FAULTS_HOOK", f"http://127.0.0.1:{port}/hook")
    hook = {"ops": {"type": "webhook", "url": "${DW_FAULTS_HOOK}", "attempts": 1}}
    return write_agrawal_sources(folder, config=agrawal_config(alerts={"channels": hook}))


class Receiver:
    """A webhook endpoint in a thread on ``port``: keeps every body it gets."""

    def __init__(self, port: int):
        self.got: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                receiver.got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alert_key(body: dict[str, Any]) -> Any:
    """One alert's identity: its idempotency key, else what it is about."""
    return body.get("idempotency_key") or (body.get("model"), body.get("window_start"), body.get("status"))


def lost_and_doubled(expected: Iterable[Any], bodies: Iterable[dict[str, Any]]) -> tuple[int, int]:
    """Alerts expected but never delivered; deliveries beyond one of an alert with an idempotency key (a
    receiver drops those; without a key, a resend is an at-least-once delivery, not a double)."""
    got = Counter(alert_key(b) for b in bodies)
    doubled = sum(n - 1 for k, n in got.items() if isinstance(k, str) and n > 1)
    return sum(1 for k in set(expected) if got[k] == 0), doubled


class CutProxy:
    """A loopback TCP proxy in front of PostgreSQL. Once a client sends ``cut_on`` (a statement's text, as it
    crosses the wire), every connection is cut and new ones are refused until ``restore()``: the store goes
    away between a run's reads and its writes, as a network or a failover would make it."""

    def __init__(self, upstream: tuple[str, int], cut_on: bytes):
        self.upstream, self.cut_on = upstream, cut_on
        self.down = threading.Event()
        self.cuts = 0
        self.refused = 0
        """Connections refused while down: the run's retries."""
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                self.refused += 1
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.conns += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_client and self.cut_on in data and not self.down.is_set():
                    self.cut()
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        self.down.set()
        self.cuts += 1
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def restore(self) -> None:
        self.cut_on = b"\x00never\x00"
        self.down.clear()

    def close(self) -> None:
        self.listener.close()
        self.cut()
