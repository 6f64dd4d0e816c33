"""Process-wide settings from the environment: the only place driftwarden reads ``os.environ``.

Secrets (store passwords, webhook URLs) come from here, never from YAML, and are never logged.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Telemetry stays off: driftwarden runs on machines with no internet and must not phone home.
OFFLINE_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


# The embedded default: with no PREFECT_API_URL, Prefect starts an ephemeral API server on a SQLite file for
# this process alone. Its task-run recorder and event persister write to that file while the next flow run is
# created, and SQLite refuses one of the writers ("database is locked", PrefectHQ/prefect#18934): the client
# then waits two seconds and retries, on nearly every flow run (2.1 s instead of 0.15 s for a 20-task flow,
# measured). Nothing reads their records on the embedded default (no UI, no automations), so they are off
# there; a real server (`prefect server start`, PREFECT_API_URL) keeps them, as do the user's own values.
EMBEDDED_SERVER_DEFAULTS = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRIFTWARDEN_", extra="ignore")

    home: Path = Path(".driftwarden")
    """Working folder for the embedded store, reports and demo data."""
    store_url: SecretStr | None = None
    """SQLAlchemy URL of the store; defaults to a SQLite file in ``home``. May hold a password."""
    reports_dir: str | None = None
    """Where HTML reports go: a folder or any fsspec URL (``s3://bucket/reports``); defaults to ``home/reports``."""
    report_sample_rows: int = Field(5000, ge=100)
    """Rows sampled (seeded) from each side for the Evidently HTML report."""
    mask_key: SecretStr | None = None
    """Key of the tokens that stand for masked (PII) values in the failure log; default: a random key kept in
    ``home/mask.key``. Machines sharing a store must share it."""
    chunk_rows: int = Field(500_000, ge=1000)
    """Rows read, validated and sketched at a time: a window's memory is bounded by this, not by its size."""
    dask_address: str | None = None
    """A Dask scheduler (``tcp://scheduler:8786``; ``tls://...`` with dask's TLS settings) whose workers scan each
    window's chunks side by side (``pip install 'driftwarden[dask]'``); ``local``: a cluster of this machine's
    cores for each run; unset: the run's own process scans."""
    run_lock_ttl: int = Field(6 * 3600, ge=60)
    """Seconds after which a window's lock is taken as stale (its run died) and may be taken over."""
    run_lock_heartbeat: int = Field(60, ge=1)
    """Seconds between the beats of a lock's holder while it runs; a lock that missed 5 beats (its holder
    stopped, on this host or another) is taken over without waiting for ``run_lock_ttl``."""
    prefect_client_retries: int = Field(2, ge=0)
    """Retries of each call a run makes to Prefect's API (Prefect's own PREFECT_CLIENT_MAX_RETRIES wins when
    set). Prefect's default, 5 with doubling waits, holds a run whose API went away for minutes after its verdict
    is stored; the run's own steps have retries of their own."""
    test_pause_at: str | None = None
    """A testing aid, never for production: the stage of a run (``reading``, ``validating``, ``storing``,
    ``reports``, ``alerting``) at which the run writes ``home/paused-at-<stage>`` (its pid) and sleeps, so that a
    test can kill it there. Unset: no pause."""
    data_roots: str | None = None
    """Folders (separated by ``os.pathsep``: ``:`` on Linux) that every local source file must lie in, its path
    resolved with symlinks followed: a config naming ``../../etc/passwd``, or a symlink pointing out, is refused.
    Unset: no restriction."""

    def resolved_data_roots(self) -> list[Path]:
        """The allowed data roots, resolved (symlinks followed); empty: no restriction."""
        if not self.data_roots:
            return []
        return [Path(p).expanduser().resolve() for p in self.data_roots.split(os.pathsep) if p.strip()]

    def resolved_store_url(self) -> str:
        if self.store_url is not None:
            return self.store_url.get_secret_value()
        return f"sqlite:///{(self.home / 'store.db').resolve()}"

    def user_name(self) -> str:
        """Who runs the command (the login name), for records a person makes, such as an acceptance."""
        import getpass

        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"

    def resolved_reports_dir(self) -> str:
        """An absolute folder, or the fsspec URL as given."""
        if self.reports_dir is not None and "://" in self.reports_dir:
            return self.reports_dir.rstrip("/")
        return str(Path(self.reports_dir or self.home / "reports").resolve())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def use_store_url(url: str) -> None:
    """Point this process (and the runs it starts) at another store, e.g. ``driftwarden demo --store-url``.
    The URL may hold ``${VAR}`` placeholders; it is never logged."""
    os.environ["DRIFTWARDEN_STORE_URL"] = expand_secrets(url, "--store-url")
    get_settings.cache_clear()


def prefect_server_env(home: Path, port: int) -> dict[str, str]:
    """The environment of the Prefect server ``driftwarden serve`` starts when no PREFECT_API_URL is set: its
    database under ``home``, on loopback at ``port``, with the services an in-process ephemeral API turns off
    back on (a real server has its own process; its UI shows task runs)."""
    env = {k: v for k, v in os.environ.items() if EMBEDDED_SERVER_DEFAULTS.get(k) != v and k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(home.resolve()),
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_LOGGING_LEVEL=env.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"),
    )
    return env


def prefect_api_url() -> str | None:
    """The Prefect API runs go to (PREFECT_API_URL), None on the embedded default."""
    return os.environ.get("PREFECT_API_URL") or None


def use_prefect_api(url: str) -> None:
    """Point this process and the processes it starts at the Prefect API at ``url``."""
    os.environ["PREFECT_API_URL"] = url


def ephemeral_server_env() -> dict[str, str]:
    """The environment Prefect gives its ephemeral API server (no UI; this process's settings)."""
    return {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


def prepare_environment(quiet: bool = False) -> None:
    """Set offline telemetry defaults (and, on the embedded default, the ephemeral server's) before Prefect
    or GX are imported (a user's own values win).

    ``quiet`` keeps Prefect's per-task log lines off a terminal where the CLI prints its own table."""
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if not os.environ.get("PREFECT_API_URL"):
        for key, value in EMBEDDED_SERVER_DEFAULTS.items():
            os.environ.setdefault(key, value)
    try:
        retries = get_settings().prefect_client_retries
    except ValueError:  # a bad setting: the command that reads it says which
        retries = Settings.model_fields["prefect_client_retries"].default
    os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", str(retries))
    if quiet:  # the CLI reports failures itself, in one line
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_INTERNAL_LOGGING_LEVEL", "CRITICAL")  # e.g. each event an API lost drops
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_secrets(text: str, where: str) -> str:
    """Replace ``${VAR}`` with the environment's value. The result may hold a secret: never log it."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise KeyError(f"{where}: environment variable {name} is not set")
        return quote(os.environ[name], safe="")

    return _PLACEHOLDER.sub(value, text)


PLACEHOLDER_ONLY = r"\$\{[A-Za-z_][A-Za-z0-9_]*\}"


def env_secret(placeholder: str, where: str) -> str:
    """The environment's value of a whole ``${VAR}`` placeholder, unquoted (a webhook URL, an SMTP password).
    The result is a secret: never log, store or render it."""
    match = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", placeholder.strip())
    if match is None:
        raise ValueError(f"{where}: expected a ${{ENV_VAR}} placeholder")
    name = match.group(1)
    if not os.environ.get(name):
        raise KeyError(f"{where}: environment variable {name} is not set")
    return os.environ[name]
