"""Load the demo's generated files into database tables, for a demo config whose sources are tables
(e.g. the predictions and labels in PostgreSQL: ``url`` + ``table`` in the config instead of ``path``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from driftwarden.config.model import ModelConfig, SourceConfig
from driftwarden.config.settings import expand_secrets
from driftwarden.flows.demo.data import DemoPaths


@dataclass(frozen=True)
class Loaded:
    source: str
    table: str
    rows: int


def _template(cfg: ModelConfig, paths: DemoPaths) -> pd.DataFrame:
    """No rows, the columns batch scoring writes: the applicants' columns, the model version, the prediction
    and its probability (the table must exist before the champion scores the first night into it)."""
    c = cfg.columns
    first = sorted(paths.features.glob("*.parquet"))[0]
    frame = pd.read_parquet(first).head(0)
    extra = {c.prediction: "int64", **({c.probability: "float64"} if c.probability else {})}
    if c.model_version:
        extra[c.model_version] = "object"
    return frame.assign(**{col: pd.Series(dtype=dtype) for col, dtype in extra.items()})


def _load(src: SourceConfig, what: str, files: list[Path], empty: pd.DataFrame | None = None) -> Loaded:
    assert src.url is not None and src.table is not None
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else empty
    assert frame is not None
    schema, _, name = src.table.rpartition(".")
    engine = sa.create_engine(expand_secrets(src.url, f"sources.{what}.url"))
    try:
        with engine.begin() as conn:  # replaced as a whole: a re-run of the demo starts from the same data
            frame.to_sql(name, conn, schema=schema or None, if_exists="replace", index=False, chunksize=10_000)
    finally:
        engine.dispose()
    return Loaded(what, src.table, len(frame))


def load_sql_sources(cfg: ModelConfig, paths: DemoPaths) -> list[Loaded]:
    """Replace each database source's table with the demo's rows; file sources are left as written."""
    done = []
    srcs = cfg.sources
    if srcs.predictions.url is not None:
        files = sorted(paths.predictions.glob("*.parquet"))  # none: batch scoring fills the table night by night
        done.append(_load(srcs.predictions, "predictions", files, _template(cfg, paths)))
    if srcs.labels is not None and srcs.labels.url is not None:
        done.append(_load(srcs.labels, "labels", sorted(paths.labels.glob("*.parquet"))))
    if srcs.reference.url is not None:
        done.append(_load(srcs.reference, "reference", [paths.reference]))
    return done
