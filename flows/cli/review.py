"""``driftwarden review``: a model's objectives and KPIs over a week or a quarter, for the team's review."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from driftwarden.config.settings import get_settings
from driftwarden.flows.cli.app import ConfigOpt, app, exit_with_error, load


@app.command()
def review(
    config: ConfigOpt,
    week: Annotated[str | None, typer.Option("--week", help="An ISO week, e.g. 2026-W43.")] = None,
    quarter: Annotated[str | None, typer.Option("--quarter", help="A quarter, e.g. 2026-Q4.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The review as one JSON object.")] = False,
) -> None:
    """The review of a week or a quarter (default: the last complete week): KPIs against target with the trend,
    attainment of each key result, what the model's mistakes cost, incidents, retrains, what is provisional."""
    from driftwarden.checks.objectives import parse_period
    from driftwarden.flows.reports import review as reviews

    cfg = load(config)
    if week and quarter:
        exit_with_error("--week and --quarter exclude each other", 2)
    try:
        period = (
            parse_period(week or quarter or "", cfg.window.timezone)
            if week or quarter
            else reviews.last_complete(cfg, "week")
        )
    except ValueError as exc:
        exit_with_error(f"--{'week' if week else 'quarter'}: {exc}", 2)
    if (week and period.kind != "week") or (quarter and period.kind != "quarter"):
        exit_with_error(
            f"--{'week' if week else 'quarter'}: {week or quarter!r} is not a {'week' if week else 'quarter'}", 2
        )
    found = reviews.gather(cfg, get_settings().resolved_store_url(), period)
    if as_json:
        typer.echo(json.dumps(found.to_json(), default=str))
    else:
        typer.echo(reviews.to_markdown(found, cfg), nl=False)
