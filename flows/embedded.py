"""Prefect in this process: runs on the embedded default need no flow-run heartbeats."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def embedded_runs() -> Iterator[None]:
    """Flow runs started here with no Prefect server configured (no ``PREFECT_API_URL``: an ephemeral API in
    this process) emit no heartbeats. Nothing watches them for zombies, and Prefect 3.8 waits up to a second
    at the end of every flow run for its heartbeat thread to wake (it sleeps in whole seconds): half a second
    a run, two a demo night with its scoring subflow. Runs on a worker or under ``serve`` keep them."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
