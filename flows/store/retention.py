"""Retention and erasure in the store: prune evidence older than a model's retention, purge a person's rows
from the failure log. Samples a registered model was trained on (used_in_training) survive pruning."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from driftwarden.checks.failures import mask_value
from driftwarden.config.common import parse_duration
from driftwarden.config.model import ModelConfig
from driftwarden.flows import files as report_files
from driftwarden.flows import store
from driftwarden.flows.masking import mask_key
from driftwarden.flows.runtime import PURE, step

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    model: str
    reports: int
    """Report pages unlinked from runs (their files deleted)."""
    files: int
    """Files deleted (pages and their Evidently reports)."""
    samples: int
    """Failure samples deleted."""
    kept_for_training: int
    """Samples past their age kept because a registered model was trained on them."""
    dry_run: bool = False

    @property
    def message(self) -> str:
        verb = "would prune" if self.dry_run else "pruned"
        return (
            f"{self.model}: {verb} {self.reports} report(s) ({self.files} file(s)) and {self.samples} failure "
            f"sample(s); kept {self.kept_for_training} old sample(s) used in training"
        )


def _cutoff(now: datetime, age: str | None) -> datetime | None:
    return None if age is None else now - parse_duration(age)


def prune(engine: Engine, cfg: ModelConfig, now: datetime | None = None, dry_run: bool = False) -> Pruned:
    """Delete the report files and failure samples of ``cfg``'s windows that ended before its retention."""
    now = now or store.now_utc()
    report_cut = _cutoff(now, cfg.retention.reports)
    sample_cut = _cutoff(now, cfg.retention.failure_samples)
    runs, samples = store.runs, store.failure_samples
    pages: list[str] = []
    deleted = kept = files = 0
    with engine.begin() as conn:
        if report_cut is not None:
            old = (runs.c.model == cfg.name) & (runs.c.window_end <= report_cut) & runs.c.report_uri.is_not(None)
            pages = sorted({r[0] for r in conn.execute(sa.select(runs.c.report_uri).where(old))})
            if not dry_run:
                conn.execute(runs.update().where(old).values(report_uri=None))
        if sample_cut is not None:
            run_ends = sa.select(runs.c.id).where(runs.c.model == cfg.name, runs.c.window_end <= sample_cut)
            old_samples = (samples.c.model == cfg.name) & samples.c.run_id.in_(run_ends)
            kept = _count(conn, old_samples & samples.c.used_in_training.is_(True))
            doomed = old_samples & samples.c.used_in_training.is_(False)
            deleted = _count(conn, doomed)
            if not dry_run:
                conn.execute(samples.delete().where(doomed))
    for page in pages:  # after the commit: a file is only deleted once no run points at it
        for uri in (page, report_files.sibling(page, report_files.stem(page) + "-evidently.html")):
            if report_files.exists(uri):
                files += 1
                if not dry_run:
                    report_files.remove(uri)
    return Pruned(cfg.name, len(pages), files, deleted, kept, dry_run)


def _count(conn: sa.Connection, where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(store.failure_samples).where(where)).scalar() or 0)


@dataclass(frozen=True)
class Purged:
    model: str
    deleted: int
    used_in_training: int
    """Of the deleted, how many a registered model was trained on (erasure wins; the model stays)."""

    @property
    def message(self) -> str:
        text = f"{self.model}: removed {self.deleted} failure sample row(s) of the given id(s) from the failure log"
        if self.used_in_training:
            text += f" ({self.used_in_training} of them had been used to train a registered model)"
        return text


def purge(engine: Engine, model: str, ids: Sequence[str]) -> Purged:
    """Right to erasure: delete every failure sample of ``model`` whose row id is one of ``ids`` (or, for a
    masked id column, their tokens)."""
    samples = store.failure_samples
    key = mask_key()
    wanted = sorted({str(i) for i in ids} | {str(mask_value(str(i), key)) for i in ids})
    where = (samples.c.model == model) & samples.c.row_id.in_(wanted)
    with engine.begin() as conn:
        trained = _count(conn, where & samples.c.used_in_training.is_(True))
        deleted = conn.execute(samples.delete().where(where)).rowcount
    return Purged(model, int(deleted or 0), trained)


@step(PURE)
def prune_after_run(cfg: ModelConfig, store_url: str) -> str | None:
    """The nightly prune, when the model's retention asks for it; a failure here never fails the run."""
    if not cfg.retention.prune_after_run or (cfg.retention.reports is None and cfg.retention.failure_samples is None):
        return None
    try:
        return prune(store.open_store(store_url), cfg).message
    except Exception as exc:
        log.warning("%s: pruning after the run failed: %s", cfg.name, exc)
        return None
