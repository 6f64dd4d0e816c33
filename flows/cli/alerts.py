"""Alert commands: mute, unmute, ack, accept, and the ``alerts`` group (show, flush, check-silence)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from driftwarden.config.settings import get_settings
from driftwarden.flows.cli.app import ConfigOpt, app, duration_option, exit_with_error, load, out

CheckOpt = Annotated[str, typer.Option("--check", help="run_failed, volume, data_quality, input_drift, ... or *.")]

MAX_MUTE = timedelta(days=90)
"""A mute longer than this is a decision to stop watching: change the config instead."""


def _check_option(check: str) -> str:
    from typing import get_args

    from driftwarden.checks.alerting import Check

    names = get_args(Check)
    if check != "*" and check not in names:
        exit_with_error(f"--check: {check} is not one of {', '.join(names)} (or * for all)", 2)
    return check


def _alert_engine() -> Any:
    from driftwarden.flows import store

    return store.open_store(get_settings().resolved_store_url())


@app.command()
def mute(
    config: ConfigOpt,
    check: CheckOpt,
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 6h, 3d, 2w.")],
    reason: Annotated[str, typer.Option(help="Why (shown by `driftwarden alerts`).")],
    subject: Annotated[str, typer.Option(help="A subject (feature, KPI, expectation) or a glob.")] = "*",
) -> None:
    """Mute a check's alerts for a while (conditions are still tracked; a 'resolved' is not sent either)."""
    from driftwarden.flows import store
    from driftwarden.flows.store import alerts as alert_store

    cfg = load(config)
    _check_option(check)
    span = duration_option(duration, "--for")
    if not timedelta(minutes=1) <= span <= MAX_MUTE:
        exit_with_error(f"--for: a mute lasts from a minute to {MAX_MUTE.days} days, not {duration}", 2)
    if not reason.strip():
        exit_with_error("--reason: say why the check is muted", 2)
    until = store.now_utc() + span
    alert_store.add_mute(_alert_engine(), cfg.name, check, subject, until, reason.strip())
    out.print(f"muted {cfg.name} {check} {subject} until {until:%Y-%m-%d %H:%M} UTC: {escape(reason)}")


@app.command()
def unmute(
    config: ConfigOpt,
    check: CheckOpt,
    subject: Annotated[str | None, typer.Option(help="Only the mute of this subject pattern.")] = None,
) -> None:
    """End the active mutes of a check."""
    from driftwarden.flows.store import alerts as alert_store

    cfg = load(config)
    _check_option(check)
    ended = alert_store.end_mutes(_alert_engine(), cfg.name, check, subject)
    out.print(f"ended {ended} mute(s) of {cfg.name} {check}")


@app.command()
def ack(
    config: ConfigOpt,
    key: Annotated[str, typer.Option(help="The condition key from the alert, e.g. credit_risk/kpi/accuracy.")],
) -> None:
    """Acknowledge an open condition: no reminders until it worsens or clears."""
    from driftwarden.flows.store import alerts as alert_store

    cfg = load(config)
    if not alert_store.acknowledge(_alert_engine(), cfg.name, key):
        exit_with_error(f"--key: no open condition {key} for {cfg.name} (see `driftwarden alerts`)", 2)
    out.print(f"acknowledged {key}")


MAX_ACCEPT = timedelta(days=180)
"""An acceptance longer than this is a change of the rule: allow the category or widen the range in the config."""


@app.command()
def accept(
    config: ConfigOpt,
    rule: Annotated[
        str | None,
        typer.Option(
            help="The share rule, <column>:<expectation> as in the finding, e.g. "
            "employment_type:expect_column_values_to_be_in_set. Omit it to list."
        ),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why the standing issue is accepted (kept with it).")] = "",
    duration: Annotated[str, typer.Option("--for", help="How long it stands accepted, e.g. 30d, 8w.")] = "",
    by: Annotated[str, typer.Option(help="Who accepts it.")] = "",
    end: Annotated[bool, typer.Option("--end", help="End the rule's acceptance now.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="List as one JSON object.")] = False,
) -> None:
    """Accept a standing share issue (unseen categories, nulls, out-of-range values at a stable share): a note
    instead of a breach until it expires; a rise over its level still breaches. Without --rule: the
    acceptances made and the share issues of the latest window."""
    from driftwarden.checks.validation import share_rule_keys
    from driftwarden.flows import store
    from driftwarden.flows.store import accepted as accepted_store

    cfg = load(config)
    engine = _alert_engine()
    if rule is None:
        _list_acceptances(cfg, engine, as_json)
        return
    keys = share_rule_keys(cfg)
    if rule not in keys:
        exit_with_error(f"--rule: {rule} is no share rule of {cfg.name}; they are: {', '.join(keys)}", 2)
    if end:
        out.print(f"ended {accepted_store.end(engine, cfg.name, rule)} acceptance(s) of {cfg.name} {rule}")
        return
    if not reason.strip():
        exit_with_error("--reason: say why the issue is accepted", 2)
    if not duration:
        exit_with_error("--for: an acceptance expires; say when, e.g. --for 30d", 2)
    span = duration_option(duration, "--for")
    if not timedelta(hours=1) <= span <= MAX_ACCEPT:
        exit_with_error(f"--for: an acceptance lasts from an hour to {MAX_ACCEPT.days} days, not {duration}", 2)
    who = by.strip() or get_settings().user_name()
    expires = store.now_utc() + span
    accepted_store.add(engine, cfg.name, rule, reason.strip(), who, expires)
    out.print(f"accepted {cfg.name} {rule} until {expires:%Y-%m-%d %H:%M} UTC by {escape(who)}: {escape(reason)}")


def _list_acceptances(cfg: Any, engine: Any, as_json: bool) -> None:
    from driftwarden.checks.shares import rule_of
    from driftwarden.flows import store
    from driftwarden.flows.store import accepted as accepted_store

    made = accepted_store.rows(engine, cfg.name)
    now = store.now_utc()
    latest = store.latest_runs(engine, cfg.name, last=1, failed=False)
    issues: list[dict[str, Any]] = []
    if not latest.empty:
        for _, r in store.run_metrics(engine, [int(latest["id"].iloc[0])], kind="validation").iterrows():
            share = (json.loads(r["details"]) if r["details"] else {}).get("share") or {}
            if share.get("state") not in (None, "clear"):
                issues.append({"rule": rule_of(r["column"], r["name"]), "state": share["state"],
                               "since": share.get("since"), "share": r["value"]})  # fmt: skip
    listed = [
        {"rule": r["rule"], "reason": r["reason"], "by": r["accepted_by"], "created_at": str(r["created_at"]),
         "expires_at": str(r["expires_at"]), "in_force": bool(r["expires_at"] > now)}
        for _, r in made.iterrows()
    ]  # fmt: skip
    if as_json:
        print(json.dumps({"model": cfg.name, "acceptances": listed, "share_issues": issues}, default=str))
        return
    out.print(f"{cfg.name}: {len(issues)} share issue(s) in the latest window")
    for i in issues:
        out.print(f"  {i['rule']}: {i['state']} since {str(i['since'])[:10]}, share {i['share']:.2%}")
    for a in listed:
        state = "in force" if a["in_force"] else "ended"
        out.print(f"accepted {a['rule']} until {a['expires_at'][:16]} UTC ({state}) by {escape(a['by'])}: "
                  f"{escape(a['reason'])}")  # fmt: skip


alerts_app = typer.Typer(help="Open conditions, mutes and the outbox; flush it; check for silence.")
app.add_typer(alerts_app, name="alerts")


@alerts_app.callback(invoke_without_command=True)
def alerts_show(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="The model's YAML file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Open conditions, active mutes and the outbox backlog of a model."""
    if ctx.invoked_subcommand is not None:
        return
    if config is None:
        exit_with_error("--config: give the model's YAML file", 2)
    from driftwarden.flows import store
    from driftwarden.flows.store import alerts as alert_store

    cfg = load(config)
    engine = _alert_engine()
    now = store.now_utc()
    conds = alert_store.open_conditions(engine, cfg.name)
    mutes_ = alert_store.mute_rows(engine, cfg.name, now)
    box = alert_store.outbox_rows(engine, cfg.name)
    if as_json:
        doc = {
            "model": cfg.name,
            "open": _records(conds, ["key", "check_name", "subject", "severity", "first_seen", "last_sent",
                                     "last_value", "detail", "acknowledged"]),
            "mutes": _records(mutes_, ["check_name", "subject", "until", "reason", "created_at"]),
            "outbox": _records(box, ["id", "channel", "status", "attempts", "last_attempt", "last_error",
                                     "created_at"]),
        }  # fmt: skip
        print(json.dumps(doc, default=str))
        return
    table = Table(title=f"{cfg.name}: {len(conds)} open conditions")
    for col in ("key", "severity", "since", "last alert", "ack", "detail"):
        table.add_column(col)
    for _, r in conds.iterrows():
        sent = "" if r["last_sent"] is None or _isna(r["last_sent"]) else str(r["last_sent"])[:16]
        ack_ = "yes" if r["acknowledged"] else ""
        table.add_row(r["key"], r["severity"], str(r["first_seen"])[:16], sent, ack_, escape(r["detail"]))
    out.print(table)
    for _, m in mutes_.iterrows():
        out.print(f"muted: {m['check_name']} {m['subject']} until {str(m['until'])[:16]} UTC ({escape(m['reason'])})")
    pending = int((box["status"] == "pending").sum()) if not box.empty else 0
    dead = int((box["status"] == "dead").sum()) if not box.empty else 0
    out.print(f"outbox: {pending} pending, {dead} given up")
    for _, b in box.iterrows():
        error = escape(str(b["last_error"]))
        out.print(f"  #{b['id']} {b['channel']} {b['status']} after {b['attempts']} attempts: {error}")


def _isna(v: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def _records(frame: Any, cols: list[str]) -> list[dict[str, Any]]:
    if frame.empty:
        return []
    return [{c: (None if _isna(r[c]) else r[c]) for c in cols} for _, r in frame.iterrows()]


@alerts_app.command("flush")
def alerts_flush(config: ConfigOpt) -> None:
    """Deliver the model's pending outbox messages now (and spooled ones, if the store is back)."""
    from driftwarden.flows.notify import delivery as alerts

    cfg = load(config)
    engine = _alert_engine()
    spooled = alerts.drain_spool(engine)
    sent, failed, dead = alerts.deliver(cfg, engine)
    out.print(f"{cfg.name}: {sent} sent, {failed} failed, {dead} given up ({spooled} taken from the spool)")
    if failed:
        raise typer.Exit(1)


@alerts_app.command("check-silence")
def alerts_check_silence(config: ConfigOpt) -> None:
    """The dead-man's switch: alert when the model has had no successful run, rows or labels for too long."""
    from driftwarden.flows.notify import delivery as alerts

    cfg = load(config)
    s = cfg.alerts.silence
    if s.no_run is None and s.no_rows is None and s.no_labels is None:
        exit_with_error(f"{config}: alerts.silence sets no threshold (no_run, no_rows, no_labels)", 2)
    report = alerts.check_silence(cfg, get_settings().resolved_store_url())
    opened = {k: v for k, v in report.decisions.items() if k.startswith("alert/") or k.startswith("suppress/")}
    out.print(f"{cfg.name}: silence conditions {opened or 'none'}; {report.sent} sent, {report.failed} failed")
    if any(k.startswith(("alert/", "suppress/")) for k in report.decisions):
        raise typer.Exit(1)
