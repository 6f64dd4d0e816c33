"""The root of the ``driftwarden`` console script: the Typer ``app``, ``main()``, the options and helpers the
command modules share, and ``exit_with_error``. Commands live one module per group beside this one (monitor,
deployments, alerts, status, serve, store, demo, models, stress); each imports this module and registers its commands
onto ``app``, and ``flows/cli/__init__.py`` imports them all.

Commands import what they run (Prefect, GX, pandas and the modules built on them) inside their bodies, so
that ``driftwarden --help`` and a mistyped option answer at once."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from driftwarden.config.common import parse_duration
from driftwarden.config.settings import get_settings, prepare_environment, use_store_url

if TYPE_CHECKING:
    from datetime import timedelta

    from driftwarden.config.model import ModelConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Watch ML models in production.")
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)  # an error naming a long path stays on one line

ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The model's YAML file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per window on stdout.")]
StoreUrlOpt = Annotated[
    str | None,
    typer.Option("--store-url", help="The store URL (default: DRIFTWARDEN_STORE_URL or the SQLite file)."),
]

STATUS_STYLE = {"ok": "green", "warning": "yellow", "breach": "bold red", "failed": "bold magenta"}


FLOW_COMMANDS = {"run", "backfill", "demo", "retrain", "score", "stress"}
"""Commands that run flows in this process: they start Prefect's ephemeral API (when no PREFECT_API_URL is set)
at once, so that it boots while the command loads its libraries."""


def main() -> None:
    quiet = "--verbose" not in sys.argv
    prepare_environment(quiet=quiet)
    if FLOW_COMMANDS & set(sys.argv[1:2]) and "--help" not in sys.argv:
        from driftwarden.flows.deploy.embedded import start_embedded_api

        start_embedded_api()
    if quiet:
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import sqlalchemy as sa

    from driftwarden.flows.deploy.embedded import embedded_runs

    try:
        with embedded_runs():
            app()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:  # the store (sources say their own name)
        err.print(f"[red]{escape(store_unreachable(exc))}[/red]")
        sys.exit(1)


@app.callback()
def _options(
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Prefect's log lines.")] = False,
) -> None:
    """Watch ML models in production."""


def exit_with_error(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` in red on stderr (as text, never as markup) and end the command with ``code``."""
    err.print(f"[red]{escape(message)}[/red]")
    raise typer.Exit(code) from None


def store_unreachable(exc: Exception) -> str:
    """One line for a store that cannot be reached, naming where it is (never its password)."""
    import sqlalchemy as sa

    from driftwarden.flows.errors import first_line

    cause = first_line(exc)
    try:
        where = sa.engine.make_url(get_settings().resolved_store_url()).render_as_string(hide_password=True)
    except Exception:
        where = "DRIFTWARDEN_STORE_URL"
    return f"the store at {where} cannot be reached: {cause} (set DRIFTWARDEN_STORE_URL, or --store-url)"


def load(config: Path) -> ModelConfig:
    """The model's config; one that cannot be read or is invalid exits 2 with the loader's message."""
    from driftwarden.config.loader import ConfigError, load_model_config

    try:
        return load_model_config(config)
    except ConfigError as exc:
        exit_with_error(str(exc), 2)


def time_option(value: str | None, option: str, tz: str) -> str | None:
    """Check a time option before any run starts: a bad one exits 2 and names the option."""
    from driftwarden.flows.runtime import parse_time

    if value is None:
        return None
    try:
        return parse_time(value, option, tz).isoformat()
    except ValueError as exc:
        exit_with_error(str(exc), 2)


def duration_option(value: str, option: str) -> timedelta:
    """A duration option such as ``6h`` or ``3d``: a bad one exits 2 and names the option."""
    try:
        return parse_duration(value)
    except ValueError as exc:
        exit_with_error(f"{option}: {exc}", 2)


def store_engine(store_url: str | None) -> Any:
    """The store's engine, without migrating it (``db`` commands say what they do)."""
    import sqlalchemy as sa

    try:
        if store_url:
            use_store_url(store_url)  # this process's store: an error naming it names this one
        engine = sa.create_engine(get_settings().resolved_store_url())
        if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    except (KeyError, ValueError, sa.exc.ArgumentError) as exc:
        text = str(exc.args[0]) if isinstance(exc, KeyError) else str(exc)
        exit_with_error(text if text.startswith("--store-url") else "--store-url: " + text, 2)
    return engine
