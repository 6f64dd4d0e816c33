"""The source kinds the config can name and the readers registered for them are the same set, and a new
kind is one class and its registration (no dispatch to edit)."""

from __future__ import annotations

import typing

import pandas as pd
import pytest

from driftwarden.config.model import SourceConfig, SourceKind
from driftwarden.flows import sources
from driftwarden.flows.sources import base
from tests.streams import write_agrawal_sources


def test_every_source_kind_has_a_reader_and_every_reader_a_kind():
    assert set(typing.get_args(SourceKind)) == set(base.READERS)
    assert SourceConfig(path="x.csv").kind == "arrow"
    assert SourceConfig(path="x.csv", reader="duckdb").kind == "duckdb"
    assert SourceConfig(url="sqlite:///x.db", table="t").kind == "sql"


def test_a_new_kind_is_one_registered_class(tmp_path, dw_home, monkeypatch):
    from driftwarden.config.loader import load_model_config

    cfg = load_model_config(write_agrawal_sources(tmp_path))
    frame = sources.read_reference(cfg)

    @base.register_reader("memory")
    class Memory:
        def chunks(self, cfg, src, req):
            yield frame[req.columns].iloc[:10].copy()

        def columns(self, cfg, src, what):
            return set(frame.columns)

        def fingerprint(self, cfg, src, what):
            return "memory|10"

        def location(self, cfg, src, what):
            return "memory"

    try:
        monkeypatch.setattr(SourceConfig, "kind", property(lambda self: "memory"))
        assert len(sources.read_reference(cfg)) == 10
        assert sources.source_fingerprint(cfg) == "memory|10"
    finally:
        del base.READERS["memory"]


def test_an_unknown_kind_names_the_registered_ones(monkeypatch):
    monkeypatch.setattr(SourceConfig, "kind", property(lambda self: "ftp"))
    with pytest.raises(ValueError, match=r"no reader for source kind 'ftp'; registered: \['arrow', 'duckdb', 'sql'\]"):
        base.reader_for(SourceConfig(path="x.csv"))


def test_request_bounds_are_wall_clock_for_naive_columns():
    start, end = pd.Timestamp("2026-10-25T00:00+02:00"), pd.Timestamp("2026-10-26T00:00+01:00")
    req = base.ReadRequest("predictions", ["a"], "t", start, end, "Europe/Berlin", 10)
    assert req.bounds(zoned=True) == (start, end)
    assert req.bounds(zoned=False) == (pd.Timestamp("2026-10-25T00:00"), pd.Timestamp("2026-10-26T00:00"))
