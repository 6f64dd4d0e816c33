"""DuckDB sources: a DuckDB database through SQLAlchemy, and Parquet files read through DuckDB, locally and
from an object store (a real S3 protocol server, moto's, on 127.0.0.1). The verdicts equal the Arrow reader's."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from driftwarden.flows.cli.app import app
from tests.streams import agrawal, agrawal_config

pytestmark = pytest.mark.slow
runner = CliRunner()
DAYS = ("--start", "2025-02-19", "--end", "2025-02-23")


def backfill(path: Path) -> list[dict]:
    result = runner.invoke(app, ["backfill", "--config", str(path), *DAYS, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def verdicts(days: list[dict]) -> list[tuple]:
    return [
        (
            d["window_start"],
            d["rows"],
            d["labelled_rows"],
            d["status"],
            tuple(d["causes"]),
            d["kpis"]["accuracy"]["value"],
        )
        for d in days
    ]


def write_parquet_days(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = agrawal()
    preds = df.drop(columns=["y"])
    labels = df[["row", "y"]].assign(labelled_at=df["timestamp"] + pd.Timedelta(days=2))
    (folder / "p").mkdir(parents=True)
    (folder / "l").mkdir()
    for day, part in preds.groupby(preds["timestamp"].dt.strftime("%Y-%m")):
        part.to_parquet(folder / "p" / f"{day}.parquet", index=False, row_group_size=500)
    for day, part in labels.groupby(labels["labelled_at"].dt.strftime("%Y-%m")):
        part.to_parquet(folder / "l" / f"{day}.parquet", index=False)
    df.iloc[5000:10000].to_parquet(folder / "reference.parquet", index=False)
    return preds, labels


def config(folder: Path, name: str, sources: dict) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**agrawal_config(), "name": name, "sources": sources}))
    return path


@pytest.fixture(scope="module")
def arrow_verdicts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arrow")
    write_parquet_days(folder)
    sources = {
        "predictions": {"path": "p/*.parquet"},
        "labels": {"path": "l/*.parquet", "arrived_at": "labelled_at"},
        "reference": {"path": "reference.parquet"},
    }
    from driftwarden.config.settings import get_settings

    with pytest.MonkeyPatch.context() as mp:  # a home of its own (the tests' dw_home is per test)
        mp.setenv("DRIFTWARDEN_HOME", str(folder / "home"))
        get_settings.cache_clear()
        try:
            return verdicts(backfill(config(folder, "agrawal", sources)))
        finally:
            get_settings.cache_clear()


def test_parquet_files_through_duckdb_give_the_arrow_readers_verdicts(tmp_path, dw_home, arrow_verdicts):
    write_parquet_days(tmp_path)
    sources = {
        "predictions": {"path": "p/*.parquet", "reader": "duckdb"},
        "labels": {"path": "l/*.parquet", "reader": "duckdb", "arrived_at": "labelled_at"},
        "reference": {"path": "reference.parquet", "reader": "duckdb"},
    }
    days = verdicts(backfill(config(tmp_path, "agrawal", sources)))
    assert days == arrow_verdicts
    caught = [d[0][:10] for d in days if d[4] == ("undetermined",)]  # 24 rows a day: drift not evaluated
    assert caught and caught[0] == "2025-02-20"  # the concept change of 2025-02-20, once its labels matured


def test_a_duckdb_database_through_sqlalchemy(tmp_path, dw_home, arrow_verdicts):
    import duckdb

    preds, labels = write_parquet_days(tmp_path)
    db = tmp_path / "prod.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA ml")
        con.register("p", preds)
        con.register("l", labels)
        con.execute("CREATE TABLE ml.predictions AS SELECT * FROM p")
        con.execute("CREATE TABLE ml.labels AS SELECT * FROM l")
    url = f"duckdb:///{db}"
    sources = {
        "predictions": {"url": url, "table": "ml.predictions"},
        "labels": {"url": url, "table": "ml.labels", "arrived_at": "labelled_at"},
        "reference": {"path": "reference.parquet"},
    }
    assert verdicts(backfill(config(tmp_path, "agrawal", sources))) == arrow_verdicts


def test_a_missing_column_and_a_missing_extension_are_named(tmp_path, dw_home):
    write_parquet_days(tmp_path)
    sources = {
        "predictions": {"path": "p/*.parquet", "reader": "duckdb"},
        "labels": {"path": "l/*.parquet", "reader": "duckdb", "arrived_at": "arrival"},
        "reference": {"path": "reference.parquet"},
    }
    bad = runner.invoke(app, ["validate", "--config", str(config(tmp_path, "agrawal", sources))])
    assert bad.exit_code == 1 and "arrival" in bad.output and "l/*.parquet" in bad.output


@pytest.fixture
def s3(monkeypatch):
    """A real S3 protocol server (moto's) on a free loopback port, with a bucket."""
    pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    from tests.flows.notify.test_alerts import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("S3_KEY_ID", "testing")
    monkeypatch.setenv("S3_SECRET", "testing-secret")
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="monitoring")
    yield client, port
    server.stop()


def test_parquet_on_an_object_store_through_duckdb(tmp_path, dw_home, arrow_verdicts, s3):
    import importlib.util

    if importlib.util.find_spec("duckdb_ext") is None:
        from tests.conftest import _service_missing

        _service_missing("DuckDB's httpfs extension (the duckdb-ext-httpfs package)")
    client, port = s3
    write_parquet_days(tmp_path)
    for f in sorted((tmp_path / "p").glob("*.parquet")):
        client.upload_file(str(f), "monitoring", f"predictions/{f.name}")
    settings = {
        "s3_endpoint": f"127.0.0.1:{port}",
        "s3_url_style": "path",
        "s3_use_ssl": "false",
        "s3_region": "us-east-1",
        "s3_access_key_id": "${S3_KEY_ID}",
        "s3_secret_access_key": "${S3_SECRET}",
    }
    sources = {
        "predictions": {
            "path": "s3://monitoring/predictions/*.parquet",
            "reader": "duckdb",
            "duckdb_settings": settings,
        },
        "labels": {"path": "l/*.parquet", "arrived_at": "labelled_at"},
        "reference": {"path": "reference.parquet"},
    }
    assert verdicts(backfill(config(tmp_path, "agrawal", sources))) == arrow_verdicts
