"""Prefect on the embedded default: runs in this process need no flow-run heartbeats, and ``driftwarden
serve`` starts a Prefect server of its own (an in-process ephemeral API has no scheduler)."""

from __future__ import annotations

import atexit
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from driftwarden.config.settings import ephemeral_server_env, prefect_api_url, prefect_server_env, use_prefect_api
from driftwarden.flows.errors import DriftwardenError


class ServerError(DriftwardenError):
    """The Prefect server ``driftwarden serve`` needs could not be started."""


_early: subprocess.Popen[bytes] | None = None
_early_ready = False


def start_embedded_api() -> None:
    """Start Prefect's ephemeral API server now, before this process imports Prefect, GX and the rest: it boots
    on the other core while they load (Prefect would start the same server at the first flow run and wait for
    it, ~5 s, after importing its whole server app only to launch it). Nothing when PREFECT_API_URL is set."""
    global _early
    spec = importlib.util.find_spec("prefect")
    if prefect_api_url() or _early is not None or spec is None or spec.origin is None:
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(Path(spec.origin).parent.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]  # fmt: skip  (the command Prefect's own ephemeral server runs)
    _early = subprocess.Popen(
        args, env=ephemeral_server_env(), stdin=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=_die_with_parent(os.getpid()),
    )  # fmt: skip
    use_prefect_api(f"http://127.0.0.1:{port}/api")
    atexit.register(stop_process_group, _early)


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """In the child before it runs: SIGTERM when this process dies, however (kill -9 runs no atexit), so that a
    killed run leaves no server behind. Linux only (prctl); elsewhere the atexit handler alone stops it."""
    if not sys.platform.startswith("linux"):
        return None

    def arm() -> None:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def wait_embedded_api(timeout: float = 120) -> None:
    """Before the first flow run: until the API ``start_embedded_api`` started answers."""
    global _early_ready
    if _early is None or _early_ready:
        return
    url = prefect_api_url()
    assert url is not None  # start_embedded_api set it
    wait_healthy(url, _early, None, timeout, poll=0.1)  # it boots while this process loads: check often
    _early_ready = True


def embedded() -> bool:
    """Runs of this process go to an API of its own (no PREFECT_API_URL was given): nobody else sees them."""
    return _early is not None or not prefect_api_url()


@contextmanager
def embedded_runs() -> Iterator[None]:
    """Flow runs started here with no Prefect server configured (no ``PREFECT_API_URL``: an ephemeral API in
    this process) emit no heartbeats. Nothing watches them for zombies, and Prefect 3.8 waits up to a second
    at the end of every flow run for its heartbeat thread to wake (it sleeps in whole seconds): half a second
    a run, two a demo night with its scoring subflow. Runs on a worker or under ``serve`` keep them."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if not embedded():
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


@contextmanager
def prefect_server(home: Path, port: int, timeout: float = 120) -> Iterator[str]:
    """``prefect server start`` on 127.0.0.1:``port`` with its database under ``home``, for as long as the
    block runs; yields the API URL. Its log goes to ``home/server.log``; it is stopped by process group."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise ServerError(
                f"port {port} on 127.0.0.1 is taken: pass --port, or set PREFECT_API_URL to the Prefect server there"
            )
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    args = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            args, env=prefect_server_env(home, port), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/api"
    try:
        wait_healthy(url, proc, log_path, timeout)
        yield url
    finally:
        stop_process_group(proc)


def wait_healthy(
    url: str, proc: subprocess.Popen[bytes], log: Path | None, timeout: float = 120, poll: float = 0.5
) -> None:
    """Until the Prefect API at ``url`` answers its health check; a server that exits or stays down past
    ``timeout`` is a ServerError quoting the end of its log (when it has one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"the Prefect server exited ({proc.returncode}){_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(poll)
    raise ServerError(f"the Prefect server was not up after {timeout:.0f} s{_tail(log)}")


def _tail(log: Path | None) -> str:
    if log is None:
        return ""
    return f"; its log, {log}: " + (log.read_text(errors="replace")[-1500:].strip() or "(empty)")


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process's group (started with ``start_new_session``), SIGKILL after 20 s."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
