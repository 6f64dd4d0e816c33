"""``driftwarden deployments``: the Prefect deployments file of every model config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from driftwarden.flows.cli.app import app, exit_with_error, out


@app.command()
def deployments(
    configs: Annotated[list[Path] | None, typer.Argument(help="Model configs (default: config/*.yaml).")] = None,
    target: Annotated[Path, typer.Option("--out", help="Where to write.")] = Path("deployments/prefect.yaml"),
    check: Annotated[bool, typer.Option(help="Only check that the file is up to date (exit 1 if not).")] = False,
) -> None:
    """(Re)generate deployments/prefect.yaml: one nightly monitor-model deployment per model config."""
    from driftwarden.config.loader import ConfigError
    from driftwarden.flows.deploy.deployments import render

    paths = configs or sorted(Path("config").glob("*.yaml"))
    try:
        text = render(paths, Path.cwd())
    except (ConfigError, ValueError) as exc:
        exit_with_error(str(exc), 2)
    if check:
        if not target.exists() or target.read_text() != text:
            exit_with_error(f"{target} is out of date: run `driftwarden deployments`", 1)
        out.print(f"{target} is up to date ({len(paths)} models)")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    out.print(f"wrote {target} ({len(paths)} models)")
