"""``driftwarden serve``: every model's deployments served from this process, their schedules live."""

from __future__ import annotations

import signal
import warnings
from pathlib import Path
from typing import Annotated

import typer

from driftwarden.config.settings import get_settings
from driftwarden.flows.cli.app import app, err, exit_with_error


@app.command()
def serve(
    configs: Annotated[list[Path] | None, typer.Argument(help="Model configs (default: config/*.yaml).")] = None,
    port: Annotated[int, typer.Option(help="Port of the Prefect server started when PREFECT_API_URL is unset.")] = 4200,
) -> None:
    """Serve every model's deployments from this process with their schedules live (Prefect's serve); stop
    with Ctrl-C. With PREFECT_API_URL set, against that server; else a Prefect server of its own is started
    on 127.0.0.1 (its database under DRIFTWARDEN_HOME/prefect), since an in-process API has no scheduler."""
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from driftwarden.config.loader import ConfigError
    from driftwarden.flows.deploy.deployments import runner_deployments
    from driftwarden.flows.deploy.embedded import ServerError, prefect_server

    paths = configs or sorted(Path("config").glob("*.yaml"))
    try:
        deps = runner_deployments(paths, Path.cwd())
    except (ConfigError, ValueError) as exc:
        exit_with_error(str(exc), 2)
    names = ", ".join(f"{d.flow_name}/{d.name}" for d in deps)
    if PREFECT_API_URL.value():
        err.print(f"serving {names} against {PREFECT_API_URL.value()}")
        prefect_serve(*deps, print_starting_message=False)
        return
    home = get_settings().home / "prefect"

    def stop(*_: object) -> None:  # SIGTERM (a service manager) stops the server too, as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    warnings.filterwarnings("ignore", message="coroutine 'Runner.astop' was never awaited")  # Prefect's, at exit
    try:
        with prefect_server(home, port) as url, temporary_settings(updates={PREFECT_API_URL: url}):
            err.print(f"Prefect server for the schedules at {url[: -len('/api')]} (UI; log and database in {home})")
            err.print(f"serving {names}; stop with Ctrl-C")
            prefect_serve(*deps, print_starting_message=False)
    except ServerError as exc:
        exit_with_error(str(exc), 1)
