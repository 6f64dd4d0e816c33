"""CLI commands of the model lifecycle: retrain, score, models (list, register), promote, rollback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from driftwarden.flows.cli.app import ConfigOpt, app, err, exit_with_error, load, out, time_option

# One result here, not one per window as the root's --json
JsonOpt = Annotated[bool, typer.Option("--json", help="The result as one JSON object on stdout.")]
ReasonOpt = Annotated[str | None, typer.Option(help="Why, in words kept with the record.")]

models_app = typer.Typer(
    add_completion=False, invoke_without_command=True, help="The model registry: list (default), register."
)
app.add_typer(models_app, name="models")


def _registry(config: Path) -> Any:
    from driftwarden.flows.registry.versions import Registry

    return Registry(load(config))


@app.command()
def retrain(
    config: ConfigOpt,
    reason: ReasonOpt = None,
    as_of: Annotated[
        str | None, typer.Option(help="Retrain with what was known at this time (default: now), e.g. on a replay.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Retrain now (the retrain-model flow): train a challenger, judge it on fresh held-out windows, and promote
    it only if it beats the champion. Exit 1 when training failed."""
    from driftwarden.flows.retrain.flow import retrain_model
    from driftwarden.flows.retrain.tasks import RetrainFailed

    cfg = load(config)
    when = time_option(as_of, "--as-of", cfg.window.timezone)
    from driftwarden.flows.deploy.embedded import wait_embedded_api

    wait_embedded_api()
    try:
        attempt = retrain_model(str(config), reason=reason or "retrain requested by hand", as_of=when, trigger="manual")
    except RetrainFailed as exc:
        attempt = exc.attempt
    if as_json:
        print(json.dumps(attempt, default=str))
    else:
        _print_attempt(attempt)
    if attempt["outcome"] == "failed":
        raise typer.Exit(1)


def _print_attempt(a: dict[str, Any]) -> None:
    colour = {"promoted": "green", "kept": "yellow", "refused": "yellow", "failed": "red", "pending": "cyan"}.get(
        a["outcome"], "white"
    )
    out.print(f"[{colour}]{a['outcome'].upper()}[/{colour}] {a.get('model', '')}: {escape(a.get('reason') or '')}")
    shadow = a.get("shadow") or {}
    if a["outcome"] == "pending":
        out.print(
            f"  v{a.get('version')} passed on the retrain's holdout and waits, registered but not served: the "
            f"first monitoring run with the labels of {shadow.get('windows')} window(s) after "
            f"{str(shadow.get('after'))[:16]} UTC decides (expires {str(shadow.get('deadline'))[:16]} UTC)"
        )
    elif a.get("judged_on"):
        out.print(f"  judged on {escape(a['judged_on'])}")
    if a.get("error"):
        out.print(f"  error: {escape(a['error'])}")
    if a.get("training_rule"):
        rows = a.get("rows", {})
        out.print(
            f"  trained on {rows.get('train')} rows ({escape(a['training_rule'])}; {rows.get('failure_samples')} "
            f"failure samples); held out {rows.get('holdout')} rows it never saw"
        )
    scores = a.get("holdout_scores") or {}
    if scores:
        table = Table("holdout", *next(iter(scores.values())).keys())
        for name, vals in scores.items():
            table.add_row(name, *("—" if v is None else f"{v:.4f}" for v in vals.values()))
        out.print(table)
    for line in a.get("reasons", []):
        out.print(f"  {escape(line)}")
    if a.get("stress"):
        print_stress(a["stress"])
    if a.get("version") is not None:
        out.print(f"  registered as v{a['version']}; champion: v{a.get('champion_after')}")


def print_stress(record: dict[str, Any]) -> None:
    """The robustness table of a stress record (KPI per perturbation and strength, the models side by side),
    then its gates; after a retrain and by ``driftwarden stress``."""
    from driftwarden.checks.stress import robustness_table

    if record.get("error"):
        out.print(f"  stress tests failed: {escape(record['error'])}")
        return
    header, rows = robustness_table(record)
    table = Table(*header, title="stress tests")
    for row in rows:
        table.add_row(*(escape(c) for c in row))
    out.print(table)
    if record.get("shifted"):
        out.print(f"  shift moves the most important features: {escape(', '.join(record['shifted']))}")
    for gate in record.get("gates", []):
        out.print(f"  {escape(gate['reason'])}")


@app.command()
def score(
    config: ConfigOpt,
    window_end: Annotated[str | None, typer.Option(help="End of the window (default: last complete).")] = None,
    force: Annotated[bool, typer.Option(help="Re-score a window that already has predictions.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Batch scoring (the score-model flow): score a window's features with the champion and write predictions."""
    from driftwarden.flows.registry.versions import RegistryError
    from driftwarden.flows.scoring.flow import score_model

    cfg = load(config)
    end = time_option(window_end, "--window-end", cfg.window.timezone)
    from driftwarden.flows.deploy.embedded import wait_embedded_api

    wait_embedded_api()
    try:
        result = score_model(str(config), window_end=end, force=force)
    except RegistryError as exc:
        exit_with_error(str(exc))
    if as_json:
        print(json.dumps(result, default=str))
        return
    span = f"{cfg.name} {result['window_start']} .. {result['window_end']}"
    if result.get("skipped"):
        out.print(f"{span}: nothing scored: {result['skipped']}")
    else:
        where = escape(str(result["written_to"]))
        out.print(f"{span}: scored {result['scored']} rows with {result['version']} -> {where}")


@models_app.callback()
def models(ctx: typer.Context, config: Annotated[Path | None, typer.Option("--config", "-c")] = None) -> None:
    """List the registered versions of a model, the champion marked."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        exit_with_error("--config is required (the model's YAML file)", 2)
    registry = _registry(config)
    champion = registry.aliases().get("champion")
    table = Table(
        "version", "created", "parent", "state", "promotion KPI (challenger / champion)", "p", "worst under stress",
        "decision",
    )  # fmt: skip
    # A version's state comes from the attempt that trained it: a shadow decision rewrites that record.
    attempts = {a.get("version"): a for a in registry.attempts() if a.get("version") is not None}
    former = {int(h["champion"]) for h in registry.aliases().get("history", []) if h.get("champion") is not None}
    for v in registry.versions():
        m = v.meta
        attempt = attempts.get(v.number, {})
        shadow = attempt.get("shadow") or {}
        decided = shadow.get("scores") is not None  # judged on its shadow windows: those figures are the verdict
        scores = (shadow.get("scores") if decided else m.get("holdout_scores")) or {}
        metric = m.get("promotion_metric")
        pair = " / ".join(_f(scores.get(k, {}).get(metric)) for k in ("challenger", "champion") if k in scores)
        reasons = (shadow.get("reasons") if decided else None) or m.get("decision") or [m.get("reason", "")]
        if _interrupted(v.number, champion, attempt, m):
            reasons = ["its retrain stopped (or still runs) after registering it, before the alias moved"]
        if shadow.get("state") == "pending":
            reasons = [f"waits for {shadow.get('windows')} shadow window(s) after {str(shadow.get('after'))[:16]}"]
        elif shadow.get("reason"):
            reasons = [shadow["reason"]]
        table.add_row(
            f"v{v.number}" + (" (champion)" if v.number == champion else ""),
            str(m.get("created_at", ""))[:19],
            "" if m.get("parent") is None else f"v{m['parent']}",
            _state(v.number, champion, attempt, former, m),
            (f"{metric}: {pair}" + (" (shadow)" if decided else "")) if metric else "registered by hand",
            _f(shadow.get("p_value") if decided else m.get("p_value"), ".2g"),
            escape(_stress_cell(registry.stress(v.number), v.number)),
            escape(str(reasons[0])),
        )
    out.print(table)
    _print_export(load(config).retrain.export_path, registry, champion)


def _interrupted(number: int, champion: Any, attempt: dict[str, Any], meta: dict[str, Any]) -> bool:
    """A retrain's challenger with no attempt record that is not the champion: its retrain stopped (a crash)
    between registering it and recording the outcome, before the alias moved."""
    return not attempt and number != champion and "promotion_metric" in meta


def _print_export(target: str | None, registry: Any, champion: Any) -> None:
    """Which version ``retrain.export_path`` holds (found by its checksum): an export that did not follow the
    alias (a crash or a failed export after a promotion) is said, with the command that repairs it."""
    import hashlib

    import fsspec

    if not target:
        return
    try:
        with fsspec.open(target, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
    except FileNotFoundError:
        digest = None
    except Exception as exc:  # a remote export that cannot be read is said, not a traceback
        out.print(f"export {escape(target)}: cannot be read ({type(exc).__name__}: {escape(str(exc))})")
        return
    held = next((v.number for v in registry.versions() if digest and v.meta.get("sha256") == digest), None)
    what = "missing" if digest is None else (f"v{held}" if held is not None else "a file of no registered version")
    line = f"export {escape(target)}: {what}"
    if champion is not None and held != champion:
        line += (
            f"; the champion is v{champion}: the export did not follow the alias (a crash or a failed export "
            f"after it moved); `driftwarden promote --version {champion}` exports it again"
        )
    out.print(line)


def _state(number: int, champion: Any, attempt: dict[str, Any], former: set[int], meta: dict[str, Any]) -> str:
    """pending, promoted, refused or expired (a retrain's challenger); interrupted (its retrain stopped before
    an outcome); else champion, former champion or registered (by hand)."""
    if _interrupted(number, champion, attempt, meta):
        return "interrupted"
    shadow = (attempt.get("shadow") or {}).get("state")
    if shadow:
        return str(shadow)
    outcome = attempt.get("outcome")
    if outcome == "promoted":
        return "promoted"
    if outcome == "kept":
        return "refused"
    if number == champion:
        return "champion"
    return "former champion" if number in former else "registered"


def _stress_cell(record: dict[str, Any] | None, number: int) -> str:
    """The version's worst perturbation in its latest stress tests: 'accuracy 0.912 -> 0.640 (missing 0.5)'."""
    from driftwarden.checks.stress import worst_cell

    if not record:
        return ""
    if record.get("error"):
        return "failed"
    names = {label: m for m, label in (record.get("versions") or {}).items()}
    models = record.get("models") or []
    model = names.get(f"v{number}") or ("challenger" if "challenger" in models else "champion")
    w = worst_cell(record, model)
    text = "" if w is None else f"{w[2]} {w[3]:.3f} -> {w[4]:.3f} ({w[0]} {w[1]:g})"
    refused = record.get("refused_by")
    return text + (f"; refused by {refused['perturbation']} {refused['strength']:g}" if refused else "")


def _f(v: Any, spec: str = ".4f") -> str:
    return "—" if v is None else format(v, spec)


@models_app.command("register")
def register(
    config: ConfigOpt,
    file: Annotated[Path, typer.Option(help="A fitted scikit-learn model saved with skops (.skops).")],
    champion: Annotated[bool, typer.Option(help="Make it the champion (default: when there is none).")] = False,
    reason: ReasonOpt = None,
) -> None:
    """Register a model trained outside driftwarden (the first champion, usually)."""
    import skops.io as sio

    from driftwarden.flows.registry.versions import RegistryError, trusted_types

    registry = _registry(config)
    try:
        blob = file.read_bytes()
        untrusted = trusted_types(blob, f"--file {file}")
    except (OSError, RegistryError) as exc:
        exit_with_error(str(exc), 2)
    model = sio.loads(blob, trusted=untrusted)
    why = reason or f"registered by hand from {file.name}"
    version = registry.register(
        model, {"parent": None, "reason": why, "source_file": str(file), "has_reference": False}
    )
    if champion or registry.aliases().get("champion") is None:
        registry.set_champion(version.number, why)
    out.print(f"registered {file} as v{version.number}; champion: v{registry.aliases()['champion']}")


@app.command()
def promote(
    config: ConfigOpt,
    version: Annotated[int, typer.Option(help="The version to make the champion.")],
    reason: ReasonOpt = None,
) -> None:
    """Move the champion alias to a version by hand."""
    from driftwarden.flows.registry.versions import Registry, RegistryError

    cfg = load(config)
    registry = Registry(cfg)
    why = reason or "promoted by hand"
    try:
        registry.set_champion(version, why)
    except RegistryError as exc:
        exit_with_error(str(exc), 2)
    out.print(f"champion: v{version}")
    _follow(cfg, registry, version, why)


def _follow(cfg: Any, registry: Any, number: int, why: str) -> None:
    """After the alias moved by hand: the export and the webhook, as after a promotion."""
    from driftwarden.flows.retrain.tasks import champion_moved

    error = champion_moved(cfg, registry, number, [why])
    if error:
        err.print(f"[red]{escape(error)}[/red]: the alias moved; export it again with `driftwarden promote`")
        raise typer.Exit(1)


@app.command()
def rollback(config: ConfigOpt, reason: ReasonOpt = None) -> None:
    """Give the champion alias back to the previous champion."""
    from driftwarden.flows.registry.versions import Registry, RegistryError

    cfg = load(config)
    registry = Registry(cfg)
    why = reason or "rolled back by hand"
    try:
        number = registry.rollback(why)
    except RegistryError as exc:
        exit_with_error(str(exc))
    out.print(f"champion: v{number} (rolled back)")
    _follow(cfg, registry, number, why)
