"""The security cases of the reliability table (``sec.*``): secrets never written, SQL and markup in names,
``${VAR}`` expansion, data roots, and model files. Each test tries the attack for real (a real store, real
receivers, a real browser) and counts what it finds."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from driftwarden.config.loader import ConfigError, load_model_config
from driftwarden.config.settings import env_secret, expand_secrets, get_settings
from driftwarden.flows.cli.app import app
from driftwarden.flows.errors import SourceError
from tests.reliability.conftest import Observed, assert_as_table
from tests.streams import AGRAWAL_NUM, agrawal, agrawal_config

pytestmark = pytest.mark.slow  # whole monitoring runs, end to end

runner = CliRunner()


def _cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _write(folder: Path, cfg: dict[str, Any], name: str = "m.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def _refusal(path: Path) -> str:
    """The loader's message for a config that must be refused (an empty text when it was accepted)."""
    try:
        load_model_config(path)
    except ConfigError as exc:
        return str(exc)
    return ""


# --- sec.model_file_verified ---------------------------------------------------------------------------------


@pytest.mark.case("sec.model_file_verified")
def test_a_model_file_that_would_run_code_is_refused(tally):
    """numpy.vectorize(eval) inside FunctionTransformers: skops would rebuild it if told to trust numpy and
    builtins wholesale, and the first transform would run the text as code."""
    import numpy as np
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from driftwarden.flows.registry.trust import RegistryError, trusted_types

    evil = make_pipeline(
        FunctionTransformer(np.full_like, kw_args={"fill_value": "__import__('os').getpid()"}),
        FunctionTransformer(np.vectorize(eval)),
    )
    with pytest.raises(RegistryError, match="refuses to load") as refused:
        trusted_types(sio.dumps(evil), "evil.skops")
    message = str(refused.value)
    assert "builtins.eval" in message and "numpy.vectorize" in message
    fitted = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    assert all(t.startswith(("sklearn.", "numpy.")) for t in trusted_types(sio.dumps(fitted), "ok.skops"))
    assert_as_table("sec.model_file_verified", Observed("survives", message), tally)


# --- sec.sql_injection_in_names ------------------------------------------------------------------------------

ROWS = 300


def _odd_frame() -> pd.DataFrame:
    """Agrawal rows whose names are legal but need quoting: a reserved word, a space and parentheses."""
    return agrawal().iloc[:ROWS].rename(columns={"salary": "amount (EUR)", "car": "group"})


def _odd_config(url: str, table: str, attack: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg = agrawal_config(
        sources={
            "predictions": {"url": url, "table": table},
            "reference": {"url": url, "table": table},
        },
        segments=["group"],
    )
    cfg["columns"] = {
        **cfg["columns"],
        "numerical": ["amount (EUR)", *AGRAWAL_NUM[1:]],
        "categorical": ["elevel", "group", "zipcode"],
    }
    for key, value in (attack or {}).items():
        if key == "table":
            for what in ("predictions", "reference"):
                cfg["sources"][what]["table"] = value
        elif key == "numerical":
            cfg["columns"]["numerical"] = value
        else:
            cfg[key] = value
    return cfg


@pytest.mark.case("sec.sql_injection_in_names")
def test_sql_in_a_table_column_or_segment_name_is_refused(tmp_path, dw_home, postgres_url, tally):
    from driftwarden.flows.sources import read_reference

    schema = postgres_url.rsplit("%3D", 1)[1]
    sqlite_file, duck_file = tmp_path / "src.db", tmp_path / "src.duckdb"
    backends = {
        "sqlite": (f"sqlite:///{sqlite_file}", "order"),
        "postgresql": (postgres_url, f"{schema}.order"),
        "duckdb": (f"duckdb:///{duck_file}", "order"),
    }
    frame = _odd_frame()
    for name, (url, _table) in backends.items():
        if name == "duckdb":
            import duckdb

            with duckdb.connect(str(duck_file)) as con:
                con.register("frame", frame)
                con.execute('CREATE TABLE "order" AS SELECT * FROM frame')
        else:
            engine = sa.create_engine(url)
            frame.to_sql("order", engine, schema=schema if name == "postgresql" else None, index=False)
            engine.dispose()
    attacks = {
        "sources.predictions.table": {"table": 'order"; DROP TABLE "order"; --'},
        "columns.numerical.1": {"numerical": ["amount (EUR)", 'commission" FROM x; DROP TABLE "order"; --']},
        "segments.0": {"segments": ["group' OR '1'='1"]},
        "segments.1": {"segments": ["group", "zipcode) UNION SELECT * FROM pg_shadow --"]},
    }
    problems: list[str] = []
    messages: list[str] = []
    for backend, (url, table) in backends.items():
        # the legal odd names are quoted in every dialect: the reserved word, the space, the parentheses
        cfg = load_model_config(_write(tmp_path / backend, _odd_config(url, table)))
        read = read_reference(cfg)
        if len(read) != ROWS or "amount (EUR)" not in read.columns:
            problems.append(f"{backend}: the odd names were not read back ({len(read)} rows)")
        for key, attack in attacks.items():
            path = _write(tmp_path / backend, _odd_config(url, table, attack), "attack.yaml")
            message = _refusal(path)
            if key not in message:
                problems.append(f"{backend} {key}: not refused naming the key: {message or 'accepted'}")
            result = _cli("validate", "--config", str(path))
            if result.exit_code != 2 or key not in result.output:
                problems.append(f"{backend} {key}: validate exited {result.exit_code}: {result.output[-300:]}")
            messages.append(message)
        # nothing ran: the table is whole
        again = read_reference(cfg)
        if len(again) != ROWS:
            problems.append(f"{backend}: the table lost rows ({len(again)})")
    assert "Traceback" not in "\n".join(messages)
    seen = Observed("survives" if not problems else "leaked", "\n".join(problems or messages[:1]))
    assert_as_table("sec.sql_injection_in_names", seen, tally)


# --- sec.env_expansion_reads_no_file -------------------------------------------------------------------------


@pytest.mark.case("sec.env_expansion_reads_no_file")
def test_env_expansion_reads_variables_only(tmp_path, dw_home, monkeypatch, tally):
    from driftwarden.flows.sources import read_reference
    from driftwarden.flows.sources.duckdb_files import connect

    canary = f"CANARY-{uuid.uuid4().hex}"
    secret_file = tmp_path / "outside" / "canary.txt"
    secret_file.parent.mkdir()
    secret_file.write_text(canary)
    marker = tmp_path / "command-ran"
    monkeypatch.setenv("DW_CANARY_VAR", canary)
    monkeypatch.setenv("DW_OK", "fine")
    problems: list[str] = []
    forms = [
        f"${{file:{secret_file}}}",
        f"$(cat {secret_file})",
        f"`cat {secret_file}`",
        "${env:DW_CANARY_VAR}",
        "$DW_CANARY_VAR",
        "${DW_CANARY_VAR:-x}",
        f"$(touch {marker})",
        f"${{DW_OK}}$(touch {marker})",
    ]

    def check(text: str, what: str) -> None:
        if canary in text:
            problems.append(f"{what}: the file, a command or a variable's other form was expanded: {text}")

    # 1. the expander itself: only ${NAME} is replaced; the rest stays literal
    for form in forms:
        check(expand_secrets(f"x-{form}-${{DW_OK}}", "k"), f"expand_secrets({form})")
        assert expand_secrets(f"x-{form}", "k").startswith("x-")
        try:
            value = env_secret(form, "alerts.channels.ops.url")
        except (KeyError, ValueError) as exc:
            value = str(exc)
            if "alerts.channels.ops.url" not in value:
                problems.append(f"env_secret({form}): the refusal does not name the key: {value}")
        check(value, f"env_secret({form})")
    # 2. alert secrets in YAML: refused naming the key
    for form in forms:
        for key, channel in (
            ("alerts.channels.ops", {"type": "webhook", "url": form}),
            ("alerts.channels.mail", {"type": "email", "host": "127.0.0.1", "sender": "a@example.org",
                                      "to": ["b@example.org"], "username": "u", "password": form}),
        ):  # fmt: skip
            path = _write(tmp_path / "alerts", agrawal_config(alerts={"channels": {key.rsplit(".", 1)[1]: channel}}))
            message = _refusal(path)
            check(message, key)
            if key not in message:
                problems.append(f"{key} = {form}: not refused naming the key: {message or 'accepted'}")
    # 3. DuckDB settings: a secret setting must be a whole ${VAR} (refused by the config); another setting with a
    # ${ that is no placeholder fails the read naming the key (DuckDB's own values stay literal otherwise)
    data = tmp_path / "data"
    data.mkdir()
    agrawal().iloc[:400].to_parquet(data / "reference.parquet")
    for form in forms:
        secret_cfg = agrawal_config()
        secret_cfg["sources"]["reference"] = {"path": "reference.parquet", "reader": "duckdb",
                                              "duckdb_settings": {"s3_secret_access_key": form}}  # fmt: skip
        message = _refusal(_write(data, secret_cfg, "secret.yaml"))
        check(message, "duckdb secret setting")
        if "sources.reference" not in message or "s3_secret_access_key" not in message:
            problems.append(f"s3_secret_access_key = {form}: not refused naming the key: {message or 'accepted'}")
        plain_cfg = agrawal_config()
        plain_cfg["sources"]["reference"] = {"path": "reference.parquet", "reader": "duckdb",
                                             "duckdb_settings": {"s3_region": form}}  # fmt: skip
        cfg = load_model_config(_write(data, plain_cfg, "plain.yaml"))
        try:
            read_reference(cfg)
            outcome = "read"
        except SourceError as exc:
            outcome = str(exc)
            if "${" in form and "sources.reference.duckdb_settings.s3_region" not in outcome:
                problems.append(f"s3_region = {form}: the error does not name the key: {outcome}")
        check(outcome, f"s3_region = {form}")
        if "${" in form and outcome == "read":
            problems.append(f"s3_region = {form}: a ${{...}} that is no ${{ENV_VAR}} was used as it is")
    # 4. a source URL: ${file:...} and $(...) stay literal (the read fails on the literal text, no file read)
    for form in (f"$(touch {marker})", "${env:DW_CANARY_VAR}"):
        url_cfg = agrawal_config()
        url_cfg["sources"]["reference"] = {"url": f"sqlite:///{data}/{form.replace('/', '_')}.db", "table": "t"}
        try:
            read_reference(load_model_config(_write(data, url_cfg, "url.yaml")))
            outcome = "read"
        except (SourceError, ConfigError) as exc:
            outcome = str(exc)
        check(outcome, f"source url {form}")
    # 5. httpfs comes from the installed duckdb-ext-httpfs package, never from a download
    import duckdb_ext

    remote = load_model_config(_write(data, agrawal_config(sources={
        **agrawal_config()["sources"],
        "reference": {"path": "s3://bucket/reference.parquet", "reader": "duckdb"},
    }), "remote.yaml"))  # fmt: skip
    con = connect(remote.sources.reference, "reference", "s3://bucket/reference.parquet")
    try:
        [(loaded, install_path)] = con.execute(
            "SELECT loaded, install_path FROM duckdb_extensions() WHERE extension_name = 'httpfs'"
        ).fetchall()
        autoinstall = con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()
    finally:
        con.close()
    packaged = Path(next(iter(duckdb_ext.__path__))).resolve()
    if not (loaded and Path(install_path).resolve().is_relative_to(packaged)):
        problems.append(f"httpfs loaded from {install_path}, not from the duckdb-ext-httpfs package {packaged}")
    if autoinstall != (False,):
        problems.append("DuckDB may download extensions (autoinstall_known_extensions is on)")
    if marker.exists():
        problems.append("a command in a placeholder ran")
    seen = Observed("survives" if not problems else "expanded", "\n".join(problems))
    assert_as_table("sec.env_expansion_reads_no_file", seen, tally)


# --- sec.paths_stay_in_data_roots ----------------------------------------------------------------------------


@pytest.mark.case("sec.paths_stay_in_data_roots")
def test_paths_outside_the_data_roots_are_refused(tmp_path, dw_home, monkeypatch, tally):
    data, other, outside = tmp_path / "data", tmp_path / "more-data", tmp_path / "outside"
    for folder in (data, other, outside, data / "daily"):
        folder.mkdir(parents=True, exist_ok=True)
    rows = agrawal().iloc[:400]
    rows.to_csv(data / "reference.csv", index=False)
    rows.to_csv(other / "reference.csv", index=False)
    rows.to_csv(outside / "private.csv", index=False)
    rows.to_csv(data / "daily" / "a.csv", index=False)
    (data / "link.csv").symlink_to(outside / "private.csv")
    (data / "daily" / "b.csv").symlink_to(outside / "private.csv")  # one file of a glob points out
    (data / "linked-folder").symlink_to(outside, target_is_directory=True)
    sqlite_file = outside / "private.db"
    engine = sa.create_engine(f"sqlite:///{sqlite_file}")
    rows.to_sql("t", engine, index=False)
    engine.dispose()
    roots = f"{data}{os.pathsep}{other}"
    monkeypatch.setenv("DRIFTWARDEN_DATA_ROOTS", roots)
    get_settings.cache_clear()
    depth = len(data.resolve().parts)
    attacks = {
        "../../etc/passwd": ("sources.reference.path", {"path": "../" * depth + "etc/passwd", "format": "csv"}),
        "link.csv": ("sources.reference.path", {"path": "link.csv"}),
        "daily/*.csv": ("sources.reference.path", {"path": "daily/*.csv"}),
        "linked-folder/private.csv": ("sources.reference.path", {"path": "linked-folder/private.csv"}),
        "duckdb link.csv": ("sources.reference.path", {"path": "link.csv", "reader": "duckdb"}),
        "absolute": ("sources.reference.path", {"path": str(outside / "private.csv")}),
        "sqlite outside": ("sources.reference.url", {"url": f"sqlite:///{sqlite_file}", "table": "t"}),
    }
    problems: list[str] = []
    messages: list[str] = []
    for name, (key, source) in attacks.items():
        cfg = agrawal_config()
        cfg["sources"]["reference"] = source
        path = _write(data, cfg, "attack.yaml")
        result = _cli("validate", "--config", str(path))
        out = " ".join(result.output.split())  # the console wraps long lines
        messages.append(out)
        if result.exit_code != 1 or key not in out or str(data.resolve()) not in out or "Traceback" in out:
            problems.append(f"{name}: not refused naming {key} and the roots (exit {result.exit_code}): {out}")
        if "notes" in out or "sources.reference: 400 rows" in out:
            problems.append(f"{name}: the file outside the roots was read")
    # inside the roots (either of them, a relative path, a symlink that stays inside): read as before
    (data / "inner-link.csv").symlink_to(data / "reference.csv")
    for source in ({"path": "reference.csv"}, {"path": str(other / "reference.csv")}, {"path": "inner-link.csv"}):
        cfg = agrawal_config()
        cfg["sources"]["reference"] = source
        from driftwarden.flows.sources import read_reference

        if len(read_reference(load_model_config(_write(data, cfg, "ok.yaml")))) != 400:
            problems.append(f"{source}: a file inside the roots was not read")
    # unset: no restriction
    monkeypatch.delenv("DRIFTWARDEN_DATA_ROOTS")
    get_settings.cache_clear()
    cfg = agrawal_config()
    cfg["sources"]["reference"] = {"path": "link.csv"}
    from driftwarden.flows.sources import read_reference

    if len(read_reference(load_model_config(_write(data, cfg, "unset.yaml")))) != 400:
        problems.append("with DRIFTWARDEN_DATA_ROOTS unset a path outside was refused")
    seen = Observed("survives" if not problems else "read outside", "\n".join(problems or messages[:1]))
    assert_as_table("sec.paths_stay_in_data_roots", seen, tally)


# --- sec.html_escapes_data -----------------------------------------------------------------------------------

HOSTILE = "</script><b>x"


def _hostile_sources(folder: Path, **overrides: Any) -> Path:
    """The Agrawal stream with a category named ``HOSTILE`` in the production rows of 2025-02-18 .. 20 (unseen in
    the reference: a data-quality failure whose samples show it), sliced by that column."""
    from tests.streams import write_agrawal_sources

    path = write_agrawal_sources(folder, config=agrawal_config(segments=["car"], **overrides))
    preds = pd.read_csv(folder / "predictions.csv")
    stamps = pd.to_datetime(preds["timestamp"], utc=True)
    hit = (stamps >= pd.Timestamp("2025-02-18", tz="UTC")) & (stamps < pd.Timestamp("2025-02-21", tz="UTC"))
    preds["car"] = preds["car"].astype(str)
    preds.loc[hit & (preds.index % 2 == 0), "car"] = HOSTILE
    preds.to_csv(folder / "predictions.csv", index=False)
    return path


@pytest.mark.case("sec.html_escapes_data")
def test_a_hostile_category_renders_as_text_in_the_browser(tmp_path, dw_home, prefect_server, tally):
    from playwright.sync_api import sync_playwright

    from tests.flows.reports.browser import ARTIFACTS, chromium

    path = _hostile_sources(tmp_path / "agrawal")
    run = _cli("run", "--config", str(path), "--window-end", "2025-02-20", "--evidently", "--json")
    assert run.exit_code == 0, run.output
    assert _cli("report", "--all", str(path)).exit_code == 0  # the model's page and the index
    pages = sorted(Path(get_settings().resolved_reports_dir()).rglob("*.html"))
    kinds = {"evidently" if p.name.endswith("-evidently.html") else p.name for p in pages}
    assert kinds >= {"model.html", "index.html", "evidently"} and len(pages) >= 4, pages
    problems: list[str] = []
    shown_on: list[str] = []
    for page in pages:
        if HOSTILE in page.read_text(errors="replace"):
            problems.append(f"{page.name}: the category is written unescaped into the HTML")
    with sync_playwright() as p:  # one browser for every page: the run page, Evidently's, the model page, the index
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            for page in pages:
                tab = browser.new_page(viewport={"width": 1200, "height": 900})
                errors: list[str] = []
                tab.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                tab.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
                tab.goto(page.resolve().as_uri(), wait_until="load")
                created = tab.evaluate(
                    "Array.from(document.querySelectorAll('b')).filter(b => b.textContent.startsWith('x')).length"
                )
                if created:
                    problems.append(f"{page.name}: the category made {created} <b> element(s)")
                if errors:
                    problems.append(f"{page.name}: script errors {errors}")
                if HOSTILE in tab.evaluate("document.body.innerText"):
                    shown_on.append(page.name)
                if page.name == "model.html":
                    tab.get_by_text(HOSTILE).first.scroll_into_view_if_needed()
                    ARTIFACTS.mkdir(parents=True, exist_ok=True)
                    tab.screenshot(path=str(ARTIFACTS / "security-hostile-category.png"))
                tab.close()
        finally:
            browser.close()
    if "model.html" not in shown_on:
        problems.append(f"the model page does not show the category as text (shown on {shown_on})")
    seen = Observed("survives" if not problems else "markup", "\n".join(problems))
    assert_as_table("sec.html_escapes_data", seen, tally)


# --- sec.secrets_never_written -------------------------------------------------------------------------------


def _forms(secret: str) -> dict[str, str]:
    """What the secret looks like where it might be written: plain, URL-encoded, base64 (alone, as basic-auth
    ``user:secret``, and inside a longer base64 text at each of the three alignments)."""
    import base64
    from urllib.parse import quote, quote_plus

    raw = secret.encode()
    forms = {"plain": secret, "url-encoded": quote(secret, safe=""), "form-encoded": quote_plus(secret)}
    for user in ("", "monitor:", "postgres:", ":"):
        for name, enc in (("base64", base64.b64encode), ("urlsafe-base64", base64.urlsafe_b64encode)):
            forms[f"{name}({user}secret)"] = enc(user.encode() + raw).decode().rstrip("=")
    for shift in range(3):  # the secret's middle in any longer base64 text, whatever precedes it
        forms[f"base64 at offset {shift}"] = base64.b64encode(b"\0" * shift + raw).decode()[4:-4]
    return forms


def _store_dump(url: str) -> dict[str, str]:
    """Every row of every table of the store's schema, as text, by table."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        dumped = {}
        with engine.connect() as conn:
            for table in inspector.get_table_names():
                rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).fetchall()
                dumped[f"store table {table}"] = "\n".join(repr(tuple(r)) for r in rows)
        return dumped
    finally:
        engine.dispose()


def _prefect_records(since: pd.Timestamp) -> dict[str, str]:
    """What the runs left on the Prefect server: flow and task run logs, artifacts, flow-run parameters and
    state messages (Prefect's block store, where the Secret block lives, excepted)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime, LogFilter, LogFilterTimestamp

    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(timestamp=LogFilterTimestamp(after_=since.to_pydatetime())), limit=200)
        artifacts = client.read_artifacts(limit=200)
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since.to_pydatetime())), limit=200
        )
    return {
        "prefect logs": "\n".join(f"{log.name} {log.message}" for log in logs),
        "prefect artifacts": "\n".join(f"{a.key} {a.description} {a.data}" for a in artifacts),
        "prefect flow runs": "\n".join(
            f"{r.name} {r.parameters} {r.state.message if r.state else ''} {r.tags}" for r in runs
        ),
    }


@pytest.mark.case("sec.secrets_never_written")
def test_a_planted_secret_is_never_written(tmp_path, dw_home, postgres_url, prefect_server, monkeypatch, capfd, tally):
    import logging

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
    from prefect.blocks.system import Secret

    from tests.flows.notify.test_alerts import Receiver, free_port
    from tests.streams import write_agrawal_sources

    secret = f"s3cr3t-{uuid.uuid4()}"
    since = pd.Timestamp.now(tz="UTC")
    schema = postgres_url.rsplit("%3D", 1)[1]
    # the store's password (trust auth on the test server: it is sent, and ignored) and the masking key
    monkeypatch.setenv("DRIFTWARDEN_STORE_URL", postgres_url.replace("//postgres@", f"//postgres:{secret}@"))
    monkeypatch.setenv("DRIFTWARDEN_MASK_KEY", secret)
    get_settings.cache_clear()
    # alert receivers on 127.0.0.1: webhook, Slack, one that is down, one from a Prefect Secret block, SMTP
    hook, slack, block = Receiver(), Receiver(), Receiver()
    mails: list[Any] = []

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
            mails.append(envelope)
            return "250 OK"

    def login(server: Any, session: Any, envelope: Any, mechanism: Any, auth_data: Any) -> AuthResult:
        return AuthResult(success=isinstance(auth_data, LoginPassword) and auth_data.password == secret.encode())

    smtp_port = free_port()
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=smtp_port, authenticator=login, auth_require_tls=False)
    smtp.start()
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{hook.port}/hook?token={secret}")
    monkeypatch.setenv("SLACK_URL", f"http://127.0.0.1:{slack.port}/services/T0/B0/{secret}")
    monkeypatch.setenv("DOWN_URL", f"http://monitor:{secret}@127.0.0.1:{free_port()}/hook?token={secret}")
    monkeypatch.setenv("SMTP_PASSWORD", secret)
    Secret(value=f"http://127.0.0.1:{block.port}/from-block?token={secret}").save("dw-sec-hook", overwrite=True)
    # source credentials: the labels' database password and the reference's object-store keys
    monkeypatch.setenv("LABELS_DB_PASSWORD", secret)
    monkeypatch.setenv("S3_KEY_ID", secret)
    monkeypatch.setenv("S3_SECRET", secret)
    folder = tmp_path / "agrawal"
    channels = {
        "ops": {"type": "webhook", "url": "${HOOK_URL}"},
        "chat": {"type": "slack", "url": "${SLACK_URL}"},
        "down": {"type": "webhook", "url": "${DOWN_URL}", "attempts": 1, "timeout_seconds": 1},
        "block": {"type": "webhook", "url": "{{ prefect.blocks.secret.dw-sec-hook }}"},
        "mail": {"type": "email", "host": "127.0.0.1", "port": smtp_port, "sender": "dw@example.org",
                 "to": ["oncall@example.org"], "username": "monitor", "password": "${SMTP_PASSWORD}",
                 "attempts": 1, "timeout_seconds": 2},
        "log": {"type": "file", "path": "alerts.jsonl"},
    }  # fmt: skip
    labels_url = "postgresql+psycopg://postgres:${LABELS_DB_PASSWORD}@127.0.0.1:5432/test"
    cfg = agrawal_config(
        sources={
            "predictions": {"path": "predictions.csv"},
            "labels": {"url": labels_url, "table": f"{schema}.labels", "arrived_at": "labelled_at"},
            "reference": {"path": "reference.csv", "reader": "duckdb", "duckdb_settings": {
                "s3_access_key_id": "${S3_KEY_ID}", "s3_secret_access_key": "${S3_SECRET}"}},
        },
        failures={"mask": ["zipcode"]},
        alerts={"channels": channels, "routes": {"critical": list(channels), "warning": ["log"]}},
    )  # fmt: skip
    path = write_agrawal_sources(folder, config=cfg)
    labels = pd.read_csv(folder / "labels.csv", parse_dates=["labelled_at"])
    engine = sa.create_engine(postgres_url)
    labels.to_sql("labels", engine, schema=schema, index=False, chunksize=5000)
    engine.dispose()
    # a feed that breaks: nulls in a feature for three nights (failure samples), then the file is garbage
    preds = pd.read_csv(folder / "predictions.csv")
    stamps = pd.to_datetime(preds["timestamp"], utc=True)
    broken = (stamps >= pd.Timestamp("2025-02-22", tz="UTC")) & (stamps < pd.Timestamp("2025-02-25", tz="UTC"))
    preds.loc[broken, "salary"] = None
    preds.to_csv(folder / "predictions.csv", index=False)
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)  # what --verbose shows, and more
    outputs: dict[str, str] = {}
    try:
        args = ["--verbose", "backfill", "--config", str(path), "--start", "2025-02-20", "--end", "2025-02-25"]
        result = runner.invoke(app, [*args, "--alerts", "--json"])
        outputs["backfill output"] = result.output + repr(result.exception or "")
        assert result.exit_code == 0, result.output
        good = (folder / "predictions.csv").read_bytes()
        (folder / "predictions.csv").write_bytes(b"\x00\xff\x13garbage" * 10)
        result = runner.invoke(app, ["--verbose", "run", "--config", str(path), "--window-end", "2025-02-26"])
        outputs["failed run output"] = result.output + repr(result.exception or "")
        assert result.exit_code == 1, result.output
        (folder / "predictions.csv").write_bytes(good)
        # the labels' database unreachable (a closed port): the error names it, never with its password
        unreachable = yaml.safe_load(path.read_text())
        unreachable["sources"]["labels"]["url"] = labels_url.replace(":5432/", f":{free_port()}/")
        result = runner.invoke(app, ["validate", "--config", str(_write(folder, unreachable, "down.yaml"))])
        outputs["validate output"] = result.output + repr(result.exception or "")
        assert result.exit_code == 1 and "sources.labels" in result.output, result.output
        for command in (["alerts", "flush", "--config", str(path)], ["status", str(path)],
                        ["failures", "--config", str(path)], ["report", "--all", str(path)]):  # fmt: skip
            result = runner.invoke(app, ["--verbose", *command])
            outputs[f"{command[0]} output"] = result.output + repr(result.exception or "")
    finally:
        smtp.stop()
        for receiver in (hook, slack, block):
            receiver.stop()
        logging.getLogger().setLevel(level)
    captured = capfd.readouterr()
    outputs["stdout"], outputs["stderr"] = captured.out, captured.err
    delivered = {"webhook": hook.got, "slack": slack.got, "block": block.got}
    assert all(delivered.values()) and mails, f"a receiver got nothing: {delivered}, {len(mails)} mails"
    # the secret was in use: the receivers were reached through it (their paths hold it; the mails needed it)
    assert all(secret in where for got in delivered.values() for where, _ in got)
    for name, got in delivered.items():
        outputs[f"{name} alert bodies"] = "\n".join(repr(body) for _, body in got)
    outputs["emails"] = "\n".join(m.content.decode(errors="replace") for m in mails)
    written = {str(f.relative_to(tmp_path)): f.read_text(errors="replace") for f in tmp_path.rglob("*") if f.is_file()}
    assert any(name.endswith(".html") for name in written) and any("alerts.jsonl" in name for name in written)
    places = {
        **outputs, **written, **_store_dump(postgres_url), **_prefect_records(since),
    }  # fmt: skip
    assert places.get("store table failure_samples") and places.get("store table outbox"), "nothing to search"
    down = [row for row in places["store table outbox"].splitlines() if "'down'" in row]
    assert any("cannot reach the endpoint" in row for row in down), down  # a failed delivery's error is searched
    forms = _forms(secret)
    import base64

    control = f"Authorization: Basic {base64.b64encode(f'monitor:{secret}'.encode()).decode()}"
    assert any(form in control for form in forms.values())  # the search finds a leak when there is one
    found = [
        f"{form_name} in {place}" for place, text in places.items() for form_name, form in forms.items()
        if form in text
    ]  # fmt: skip
    tally.add("secrets_leaked", len(found))
    seen = Observed("survives" if not found else "leaked", "\n".join(found))
    assert_as_table("sec.secrets_never_written", seen, tally)
