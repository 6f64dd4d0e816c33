"""``driftwarden stress``: a registered version (default: the champion), the champion beside it, on the holdout a
retrain would use now, perturbed in controlled ways; the robustness table printed and kept in the registry."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from driftwarden.flows.cli.app import ConfigOpt, app, exit_with_error, load, out, time_option
from driftwarden.flows.cli.models import print_stress


@app.command()
def stress(
    config: ConfigOpt,
    version: Annotated[
        int | None, typer.Option("--version", help="The registered version to stress (default: the champion).")
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="The holdout as a retrain would pick it then (default: now).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The result as one JSON object on stdout.")] = False,
) -> None:
    """Stress tests (the stress-model flow): Gaussian noise, missing values, category swaps and unseen categories,
    unit errors and shifts of the most important features at increasing strengths, every KPI for the version and
    the champion on the same perturbed holdout rows."""
    from driftwarden.checks.training import PlanError
    from driftwarden.flows.errors import SourceError
    from driftwarden.flows.registry.trust import RegistryError
    from driftwarden.flows.retrain.stress import stress_model

    cfg = load(config)
    when = time_option(as_of, "--as-of", cfg.window.timezone)
    if not cfg.kpis:
        exit_with_error(f"{config}: no KPIs to measure under stress (kpis: is empty)", 2)
    from driftwarden.flows.deploy.embedded import wait_embedded_api

    wait_embedded_api()
    try:
        result = stress_model(str(config), version=version, as_of=when)
    except RegistryError as exc:
        exit_with_error(str(exc), 2)
    except (PlanError, SourceError) as exc:
        exit_with_error(str(exc))
    if as_json:
        print(json.dumps(result, default=str))
        return
    labels = result.get("versions", {})
    shown = " vs ".join(f"{labels[m]} ({m})" for m in result["models"])
    out.print(f"{cfg.name}: stress tests of {shown} on {result['rows']:,} holdout rows in {result['seconds']:.1f}s")
    print_stress(result)
    out.print(
        f"  kept beside v{result['version']} in the registry, with the {result['worst_rows']} perturbed rows "
        "that hurt most"
    )
