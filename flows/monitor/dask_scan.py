"""A window's scan on the workers of a Dask cluster: the same ``ScanResult`` as ``tasks.scan_window``'s one pass
in this process, its chunks read and scanned side by side.

The window's predictions (and the earlier windows label catch-up re-scores) are planned as pieces that any
process can read on its own (``sources.plan_chunks``: runs of Parquet row groups, files, time ranges of a
table); each worker reads a piece from the source itself, scans it into a ``ScanPart`` (validation counts,
sketches, KPI rows, failure candidates, ids, sample keys) and sends back only that; here the parts are merged
in reading order. Nothing in a part depends on where its rows were cut (``checks.scan``), so the verdicts are
those of the one pass, bit for bit.

This runs inside a flow's task, with ``distributed.Client`` rather than Prefect's ``DaskTaskRunner``: a task
submitted through the task runner carries the serialized run context to the worker (the calling task's
parameters, among them the store URL, and Prefect's settings with their secrets) and runs Prefect's task
engine there, so every worker would need the Prefect API; here a worker gets the config (``${VAR}``
placeholders, never their values), the reference profile, the labels known so far and its piece, and needs
nothing but driftwarden installed and the sources' credentials in its own environment.

dask and distributed (the ``dask`` extra, ``prefect-dask``) are imported only when a scan runs.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from driftwarden.checks.profile import ReferenceProfile
from driftwarden.checks.reference_models import ReferenceModels
from driftwarden.checks.scan import ScanPart, ScanResult, WindowScan, read_ranges
from driftwarden.config.model import ModelConfig
from driftwarden.config.settings import prepare_environment
from driftwarden.flows import sources
from driftwarden.flows.errors import DriftwardenError
from driftwarden.flows.sources.base import ChunkSpec

log = logging.getLogger(__name__)


class DaskUnavailable(DriftwardenError):
    """The cluster cannot scan: dask is not installed here, or its workers lack driftwarden."""


@dataclass
class _Job:
    """What every piece of one window's scan shares: sent to the cluster once, kept by each worker that reads
    a piece. No secret in it: the config holds ``${VAR}`` placeholders, each worker fills them from its own
    environment when it opens a source."""

    cfg: ModelConfig
    profile: ReferenceProfile
    start: pd.Timestamp
    end: pd.Timestamp
    labels: pd.DataFrame | None
    earlier: tuple[tuple[pd.Timestamp, pd.Timestamp], ...]
    sample_rows: int
    models: ReferenceModels | None = None
    _scan: WindowScan | None = field(default=None, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_scan", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _scan=None, _lock=threading.Lock())

    def scan(self) -> WindowScan:
        """The window's scanner on this worker, built once for all its pieces (sketch edges, GX suites)."""
        with self._lock:
            if self._scan is None:
                self._scan = WindowScan(
                    self.cfg, self.profile, self.start, self.end, self.labels, self.earlier, self.sample_rows,
                    models=self.models,
                )  # fmt: skip
            return self._scan


def scan_piece(spec: ChunkSpec, job: _Job) -> ScanPart:
    """On a worker: read one planned piece from the source and scan it, chunk by chunk."""
    prepare_environment()  # offline defaults before GX is imported: a worker must not phone home either
    scan = job.scan()
    part = scan.new_part()
    for chunk in sources.read_chunk(job.cfg, spec):
        part.merge(scan.scan(chunk))
        del chunk  # before the next one is read
    return part.detached()


def scan_on_dask(
    cfg: ModelConfig,
    profile: ReferenceProfile,
    window_start: pd.Timestamp,
    window_end: pd.Timestamp,
    labels: pd.DataFrame | None,
    earlier: Sequence[tuple[pd.Timestamp, pd.Timestamp]] = (),
    sample_rows: int = 5000,
    address: str | None = None,
    chunk_rows: int | None = None,
    models: ReferenceModels | None = None,
) -> ScanResult:
    """The window's scan (``WindowScan`` over ``sources.scan_predictions`` from the earliest re-scored window's
    start) by the workers of the Dask scheduler at ``address`` (``tcp://host:8786``, ``tls://...`` with
    dask's security settings); None: a LocalCluster of this machine's cores for this scan alone.
    ``chunk_rows`` defaults to DRIFTWARDEN_CHUNK_ROWS here (the workers' own setting is not read)."""
    ranges = read_ranges(window_start, window_end, earlier)
    specs = [spec for start, end in ranges for spec in sources.plan_chunks(cfg, start, end, chunk_rows)]
    scan = WindowScan(cfg, profile, window_start, window_end, labels, earlier, sample_rows, models=models)
    job = _Job(cfg, profile, window_start, window_end, labels, tuple(earlier), sample_rows, models)
    token = uuid.uuid4().hex[:12]
    with _client(address) as client:
        workers = _check_workers(client, address)
        log.info("scanning %s in %d pieces on %d Dask workers", cfg.name, len(specs), workers)
        shared = client.scatter(job, hash=False)  # once: each worker fetches it with its first piece
        futures = client.map(
            scan_piece, specs, job=shared, key=[f"driftwarden-scan-{token}-{i}" for i in range(len(specs))], pure=False
        )
        for future in futures:  # in reading order; later pieces wait on their workers meanwhile
            scan.merge(future.result())
            future.release()
    return scan.finish()


@contextmanager
def _client(address: str | None) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise DaskUnavailable(
            f"a scan on Dask needs dask's distributed package ({exc}): pip install 'driftwarden[dask]'"
        ) from None
    if address is not None:
        with Client(address, set_as_default=False) as client:
            yield client
        return
    with (
        LocalCluster(threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.WARNING) as c,
        Client(c, set_as_default=False) as client,
    ):
        yield client


def _check_workers(client: Any, address: str | None) -> int:
    """The number of workers, each with the same driftwarden as here (a piece is scanned by its code)."""
    mine = driftwarden_version()
    try:
        theirs = client.run(driftwarden_version)
    except (ImportError, AttributeError) as exc:
        raise DaskUnavailable(
            f"the Dask workers at {address or 'the local cluster'} cannot run driftwarden ({exc}): install "
            f"driftwarden {mine} (with its extras) on every worker"
        ) from None
    if not theirs:
        raise DaskUnavailable(f"the Dask scheduler at {address} has no workers")
    other = {w: v for w, v in theirs.items() if v != mine}
    if other:
        raise DaskUnavailable(f"Dask workers run another driftwarden than {mine}: {other}; install {mine} on each")
    return len(theirs)


def driftwarden_version() -> str:
    from importlib.metadata import version

    return version("driftwarden")
