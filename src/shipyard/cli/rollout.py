"""``shipyard deploy``, ``shipyard rollout ...`` and ``shipyard simulate``: routing and rollouts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from shipyard.cli.output import console, print_json
from shipyard.cli.state import state

rollout_app = typer.Typer(
    help="Progressive rollouts: status, watch, pause, resume, abort, reports.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

STRATEGIES = ("single", "canary", "ab", "shadow", "blue_green")
JSON = Annotated[bool, typer.Option("--json", help="print JSON")]
Endpoint = Annotated[str, typer.Argument(help="the endpoint's name")]


def register(app: typer.Typer) -> None:
    """Mount ``deploy``, ``simulate`` and the ``rollout`` group on the root app."""
    app.command("deploy")(deploy_command)
    app.command("simulate")(simulate_command)
    app.add_typer(rollout_app, name="rollout")


# ---------------------------------------------------------------------- deploy
def deploy_command(
    ctx: typer.Context,
    endpoint: Endpoint,
    strategy: Annotated[
        str, typer.Option(help="single | canary | ab | shadow | blue_green")
    ] = "single",
    model: Annotated[str | None, typer.Option(help="single: the model reference")] = None,
    stable: Annotated[str | None, typer.Option(help="canary: the stable version")] = None,
    canary: Annotated[str | None, typer.Option(help="canary: the new version")] = None,
    weight: Annotated[float | None, typer.Option(help="canary: percent to the canary")] = None,
    variant: Annotated[
        list[str] | None, typer.Option(help="ab: NAME=REFERENCE:WEIGHT, twice or more")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="sticky key: header:NAME, parameter:NAME or feature:NAME")
    ] = None,
    segment: Annotated[
        str | None, typer.Option(help="canary: FIELD=V1,V2 (e.g. feature:region=VN)")
    ] = None,
    step: Annotated[
        list[str] | None,
        typer.Option(
            help="canary rollout step, repeatable: 5 (weight) | pause [30s] | analysis | "
            "segment V1,V2 | segment *"
        ),
    ] = None,
    interval: Annotated[str | None, typer.Option(help="analysis interval, e.g. 10s")] = None,
    count: Annotated[int | None, typer.Option(help="analysis looks per step")] = None,
    min_samples: Annotated[int | None, typer.Option(help="requests per variant to judge")] = None,
    primary: Annotated[str | None, typer.Option(help="shadow: the version that answers")] = None,
    shadow: Annotated[
        list[str] | None, typer.Option(help="shadow: REFERENCE[@PERCENT], repeatable")
    ] = None,
    blue: Annotated[str | None, typer.Option(help="blue_green: the blue version")] = None,
    green: Annotated[str | None, typer.Option(help="blue_green: the green version")] = None,
    active: Annotated[str, typer.Option(help="blue_green: blue | green")] = "blue",
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="a YAML/JSON spec instead of options")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="why, kept in the endpoint's history")] = None,
    as_json: JSON = False,
) -> None:
    """Set an endpoint's routing; a canary with --step starts a progressive rollout.

    The running server applies it within a second, without a restart.
    """
    from shipyard.rollout.deploy import deploy

    if file is not None:
        raw = _read_spec(file)
    else:
        raw = _spec_from_options(
            strategy, model=model, stable=stable, canary=canary, weight=weight,
            variants=variant or [], key=key, segment=segment, steps=step or [],
            analysis={"interval": interval, "count": count, "min_samples": min_samples},
            primary=primary, shadows=shadow or [], blue=blue, green=green, active=active,
        )  # fmt: skip
    result = deploy(state(ctx).project(), endpoint, raw, actor="cli", reason=reason)
    if as_json:
        print_json(result.to_dict())
        return
    spec = result.spec
    console.print(
        f"[bold]{endpoint}[/] revision {result.revision}: {spec.get('strategy')} {_describe(spec)}"
    )
    if result.rollout_id:
        console.print(
            f"rollout {result.rollout_id[:8]} started; follow it: shipyard rollout watch {endpoint}"
        )


def _spec_from_options(strategy: str, **o: Any) -> dict[str, Any]:
    from shipyard.rollout.spec import EndpointSpecError

    if strategy not in STRATEGIES:
        raise EndpointSpecError(
            "--strategy", [f"{strategy!r} is unknown; use {', '.join(STRATEGIES)}"]
        )
    if strategy == "single":
        return {"strategy": "single", "model": o["model"]}
    if strategy == "canary":
        raw: dict[str, Any] = {"strategy": "canary", "stable": o["stable"], "canary": o["canary"]}
        if o["weight"] is not None:
            raw["weight"] = o["weight"]
        if o["key"]:
            raw["key"] = o["key"]
        if o["segment"]:
            field, sep, values = o["segment"].partition("=")
            if not sep:
                raise EndpointSpecError("--segment", ["write FIELD=V1,V2, e.g. feature:region=VN"])
            raw["segment"] = {"field": field, "values": [v for v in values.split(",") if v]}
        if o["steps"]:
            analysis = {k: v for k, v in o["analysis"].items() if v is not None}
            raw["rollout"] = {"steps": [_step(s) for s in o["steps"]], "analysis": analysis}
        return raw
    if strategy == "ab":
        variants = []
        for item in o["variants"]:
            name, sep, rest = item.partition("=")
            ref, sep2, weight = rest.rpartition(":")
            if not sep or not sep2:
                raise EndpointSpecError("--variant", [f"{item!r} is not NAME=REFERENCE:WEIGHT"])
            variants.append({"name": name, "model": ref, "weight": _number(weight, "--variant")})
        return {"strategy": "ab", "variants": variants, "key": o["key"]}
    if strategy == "shadow":
        shadows = []
        for item in o["shadows"]:
            ref, sep, percent = item.rpartition("@")
            if sep and percent.replace(".", "", 1).isdigit():
                shadows.append({"model": ref, "percent": float(percent)})
            else:
                shadows.append({"model": item})
        return {"strategy": "shadow", "primary": o["primary"], "shadows": shadows}
    return {"strategy": "blue_green", "blue": o["blue"], "green": o["green"], "active": o["active"]}


def _step(text: str) -> dict[str, Any]:
    from shipyard.rollout.spec import EndpointSpecError

    word, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if word.replace(".", "", 1).isdigit():
        return {"set_weight": float(word)}
    if word == "weight":
        return {"set_weight": _number(rest, "--step")}
    if word == "pause":
        return {"pause": rest or None}
    if word == "analysis":
        return {"analysis": {"interval": rest} if rest else {}}
    if word == "segment":
        return {"set_segment": None if rest in ("*", "everyone", "") else rest.split(",")}
    raise EndpointSpecError(
        "--step", [f"{text!r} is not a step"],
        hint="use N (weight), pause [30s], analysis [10s], segment V1,V2 or segment *",
    )  # fmt: skip


def _number(text: str, option: str) -> float:
    from shipyard.rollout.spec import EndpointSpecError

    try:
        return float(text)
    except ValueError:
        raise EndpointSpecError(option, [f"{text!r} is not a number"]) from None


def _read_spec(path: Path) -> dict[str, Any]:
    import yaml

    from shipyard.rollout.spec import EndpointSpecError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise EndpointSpecError(str(path), [f"cannot be read: {exc}"]) from None
    if not isinstance(data, dict):
        raise EndpointSpecError(str(path), ["must hold a mapping (strategy: ..., ...)"])
    return data


def _describe(spec: Any) -> str:
    kind = spec.get("strategy")
    if kind == "single":
        return spec["model"]
    if kind == "canary":
        seg = spec.get("segment")
        where = f" of {seg['field']} in {','.join(seg['values'])}" if seg else ""
        return (
            f"stable {spec['stable']}, canary {spec['canary']} at {spec.get('weight', 0):g}%{where}"
        )
    if kind == "ab":
        return ", ".join(f"{v['name']}={v['model']} ({v['weight']:g}%)" for v in spec["variants"])
    if kind == "shadow":
        return f"primary {spec['primary']}, shadows " + ", ".join(
            f"{s['model']} ({s.get('percent', 100):g}%)" for s in spec["shadows"]
        )
    return f"blue {spec['blue']}, green {spec['green']}, active {spec.get('active', 'blue')}"


# ---------------------------------------------------------------------- rollout ...
def _controller(ctx: typer.Context) -> Any:
    from shipyard.rollout.analysis import StoreMetricsSource
    from shipyard.rollout.controller import RolloutController
    from shipyard.store.events import EventStore

    project = state(ctx).project()
    return RolloutController(project.db, StoreMetricsSource(EventStore(project.db)))


@rollout_app.command("status")
def status_command(ctx: typer.Context, endpoint: Endpoint, as_json: JSON = False) -> None:
    """The endpoint's newest rollout: state, step, weight, the last analysis."""
    status = _controller(ctx).status(endpoint)
    if as_json:
        print_json(status.to_dict())
    else:
        console.print(_render(status))


@rollout_app.command("watch")
def watch_command(
    ctx: typer.Context,
    endpoint: Endpoint,
    interval: Annotated[float, typer.Option(help="seconds between refreshes")] = 1.0,
    drive: Annotated[
        bool, typer.Option("--drive", help="also advance the rollout (when no server does)")
    ] = False,
) -> None:
    """A live view of the rollout until it ends (Ctrl-C leaves it running)."""
    from rich.live import Live

    controller = _controller(ctx)
    with Live(_render(controller.status(endpoint)), console=console, refresh_per_second=4) as live:
        while True:
            if drive:
                controller.tick(endpoint)
            status = controller.status(endpoint)
            live.update(_render(status))
            if not status.rollout.active:
                break
            time.sleep(max(0.1, interval))


@rollout_app.command("run")
def run_command(
    ctx: typer.Context,
    endpoint: Annotated[str | None, typer.Argument(help="only this endpoint")] = None,
    interval: Annotated[float, typer.Option(help="seconds between ticks")] = 1.0,
) -> None:
    """Run the rollout controller in the foreground (the server runs one too)."""
    controller = _controller(ctx)
    console.print("rollout controller running; Ctrl-C stops it")
    while True:
        for r in controller.tick(endpoint):
            console.print(f"{r.endpoint}: {r.state} at step {r.step_index}", highlight=False)
        time.sleep(max(0.1, interval))


@rollout_app.command("pause")
def pause_command(
    ctx: typer.Context,
    endpoint: Endpoint,
    reason: Annotated[str | None, typer.Option(help="kept with the decision")] = None,
) -> None:
    """Hold the rollout at its current step and weight."""
    r = _controller(ctx).pause(endpoint, actor="cli", reason=reason)
    console.print(f"{endpoint}: rollout {r.id[:8]} {r.state} at step {r.step_index}")


@rollout_app.command("resume")
def resume_command(ctx: typer.Context, endpoint: Endpoint) -> None:
    """Continue a paused rollout (accepting an inconclusive analysis or a pause step)."""
    r = _controller(ctx).resume(endpoint, actor="cli")
    console.print(f"{endpoint}: rollout {r.id[:8]} {r.state} at step {r.step_index}")


@rollout_app.command("abort")
def abort_command(
    ctx: typer.Context,
    endpoint: Endpoint,
    reason: Annotated[str | None, typer.Option(help="kept with the decision")] = None,
) -> None:
    """Stop the rollout; every request goes back to stable at once."""
    r = _controller(ctx).abort(endpoint, actor="cli", reason=reason)
    console.print(f"{endpoint}: rollout {r.id[:8]} {r.state}; canary weight 0")


@rollout_app.command("switch")
def switch_command(
    ctx: typer.Context,
    endpoint: Endpoint,
    to: Annotated[str | None, typer.Option(help="blue | green (default: the other one)")] = None,
) -> None:
    """Blue-green: send all traffic to the other side at once; run again to switch back."""
    from shipyard.rollout.deploy import switch

    record = switch(state(ctx).project(), endpoint, actor="cli", to=to)
    console.print(f"{endpoint}: active {record.spec['active']} (revision {record.revision})")


@rollout_app.command("report")
def report_command(
    ctx: typer.Context,
    endpoint: Endpoint,
    kind: Annotated[str, typer.Option(help="the outcome kind")] = "conversion",
    metric: Annotated[str, typer.Option(help="value | abs_error | accuracy | auto")] = "value",
    lower_is_better: Annotated[bool, typer.Option("--lower-is-better")] = False,
    since: Annotated[
        str | None,
        typer.Option(help="window start: 30m, 2h, 1d ago (default: the endpoint's revision)"),
    ] = None,
    confidence: Annotated[float, typer.Option(help="confidence level")] = 0.95,
    as_json: JSON = False,
) -> None:
    """A/B stop-and-decide report: estimates with intervals, z/Welch, mSPRT, SRM."""
    from shipyard.rollout.experiment import experiment_report
    from shipyard.rollout.spec import EndpointSpecError, parse_endpoint

    project = state(ctx).project()
    source, record, start = _window(project, endpoint, since)
    spec = parse_endpoint(endpoint, dict(record.spec))
    if spec.strategy == "ab":
        weights = {v.name: v.weight for v in spec.variants}
    elif spec.strategy == "canary":
        weights = {"stable": 100 - spec.weight, "canary": spec.weight}
    else:
        raise EndpointSpecError(
            f"endpoint {endpoint!r}", [f"is {spec.strategy}: there is no experiment to report"]
        )
    now = time.time()
    report = experiment_report(
        endpoint,
        source.observations(endpoint, since=start, until=now),
        source.outcomes(endpoint, kind, since=start, until=now),
        weights, kind=kind, metric=metric, higher_is_better=not lower_is_better,
        confidence=confidence,
    )  # fmt: skip
    if as_json:
        print_json(report.to_dict())
        return
    _show_experiment(report)


@rollout_app.command("shadow")
def shadow_command(
    ctx: typer.Context,
    endpoint: Endpoint,
    since: Annotated[str | None, typer.Option(help="window start: 30m, 2h, 1d ago")] = None,
    output: Annotated[str | None, typer.Option(help="the output to compare")] = None,
    as_json: JSON = False,
) -> None:
    """Shadow report: agreement or difference distribution, latency, errors, worst examples."""
    from shipyard.rollout.shadow import shadow_report

    project = state(ctx).project()
    source, _, start = _window(project, endpoint, since)
    now = time.time()
    report = shadow_report(
        endpoint,
        source.observations(endpoint, since=start, until=now),
        source.observations(endpoint, since=start, until=now, shadow=True),
        output=output,
    )
    if as_json:
        print_json(report.to_dict())
        return
    _show_shadow(report)


def _window(project: Any, endpoint: str, since: str | None) -> tuple[Any, Any, float]:
    from shipyard.rollout.analysis import StoreMetricsSource
    from shipyard.rollout.spec import parse_duration
    from shipyard.store.endpoints import EndpointStore
    from shipyard.store.events import EventStore

    record = EndpointStore(project.db).require(endpoint)
    start = record.updated_at.timestamp()
    if since is not None:
        try:
            start = time.time() - parse_duration(since)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None
    return StoreMetricsSource(EventStore(project.db)), record, start


# ---------------------------------------------------------------------- simulate
def simulate_command(
    endpoint: Endpoint,
    data: Annotated[Path, typer.Option(help="a Parquet or CSV file of rows to send")],
    rate: Annotated[float, typer.Option(help="requests per second")] = 50.0,
    duration: Annotated[float, typer.Option(help="seconds to send for")] = 10.0,
    url: Annotated[
        str, typer.Option(help="the server (this machine only)")
    ] = "http://127.0.0.1:8000",
    key: Annotated[
        str | None, typer.Option(help="the routing key: a column, or synthetic")
    ] = "user_id",
    users: Annotated[
        int, typer.Option(help="synthetic users when the data has no key column")
    ] = 1000,
    regions: Annotated[
        str | None, typer.Option(help="regions drawn per user, e.g. VN,TH,ID")
    ] = None,
    outcomes: Annotated[
        str | None, typer.Option(help="post this column's true value as each request's outcome")
    ] = None,
    outcome_kind: Annotated[str, typer.Option(help="the outcome's kind")] = "label",
    concurrency: Annotated[int, typer.Option(help="requests in flight at most")] = 32,
    seed: Annotated[int, typer.Option(help="for synthetic users and regions")] = 0,
    as_json: JSON = False,
) -> None:
    """Replay a dataset against a running endpoint, with users, regions and outcomes."""
    from shipyard.rollout.simulate import SimulationSpec, simulate

    spec = SimulationSpec(
        url=url, endpoint=endpoint, rate=rate, duration_s=duration, key=key, users=users,
        regions=tuple(r for r in (regions or "").split(",") if r), outcome_column=outcomes,
        outcome_kind=outcome_kind, concurrency=concurrency, seed=seed,
    )  # fmt: skip
    report = simulate(spec, _read_data(data)).to_dict()
    if as_json:
        print_json(report)
        return
    from rich.table import Table

    table = Table(title=f"{endpoint}: {report['sent']} requests in {report['elapsed_s']:.1f} s")
    table.add_column("variant")
    table.add_column("requests", justify="right")
    table.add_column("share", justify="right")
    for name, n in sorted(report["variants"].items()):
        table.add_row(name, f"{n:,}", f"{report['shares'][name]:.1%}")
    console.print(table)
    console.print(
        f"statuses {report['statuses']}; p50 {report['latency_p50_ms'] or 0:.2f} ms, "
        f"p99 {report['latency_p99_ms'] or 0:.2f} ms; outcomes posted {report['outcomes_posted']}, "
        f"failed {report['outcomes_failed']}; users on several variants "
        f"{report['users_on_several_variants']} of {report['users']}"
    )


def _read_data(path: Path) -> Any:
    import pandas as pd

    from shipyard.rollout.simulate import SimulationError

    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise SimulationError(f"cannot read {path}: {exc}") from None


# ---------------------------------------------------------------------- rendering
def _render(status: Any) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    r = status.rollout
    colour = {"running": "yellow", "paused": "cyan", "succeeded": "green"}.get(r.state, "red")
    head = Text.assemble(
        (f"{r.endpoint} ", "bold"), ("rollout ", ""), (r.id[:8], "dim"), ("  ", ""),
        (r.state, colour), (f"  weight {status.weight:g}%" if status.weight is not None else "", ""),
    )  # fmt: skip
    steps = Table(box=None, show_header=False, pad_edge=False)
    for i, text in enumerate(status.steps):
        mark = (
            "✓"
            if i < r.step_index or r.state == "succeeded"
            else ("▶" if i == r.step_index else " ")
        )
        steps.add_row(mark, text)
    parts: list[Any] = [head, steps]
    last = status.last_analysis
    if last:
        table = Table(
            title=f"analysis: {last.get('verdict')} — {last.get('summary')}", title_justify="left"
        )
        for col in ("criterion", "segment", "verdict", "reason"):
            table.add_column(col, overflow="fold")
        for c in last.get("criteria", []):
            if c["verdict"] == "skipped" and c.get("segment") is not None:
                continue
            style = {"pass": "green", "fail": "red", "inconclusive": "yellow"}.get(
                c["verdict"], "dim"
            )
            table.add_row(
                c["name"], c.get("segment") or "all", f"[{style}]{c['verdict']}[/]", c["reason"]
            )
        parts.append(table)
    decisions = Table(title="decisions", title_justify="left")
    for col in ("at", "step", "action", "outcome"):
        decisions.add_column(col)
    for d in status.decisions[-8:]:
        decisions.add_row(d.at.strftime("%H:%M:%S"), str(d.step_index), d.action, d.outcome)
    parts.append(decisions)
    return Group(*parts)


def _show_experiment(report: Any) -> None:
    from rich.table import Table

    table = Table(
        title=f"{report.endpoint}: {report.kind} ({report.metric}), control {report.control}"
    )
    for col in ("variant", "weight", "units", "requests", "estimate", "interval"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for v in report.variants:
        est = "-" if v.estimate is None else f"{v.estimate:.4g}"
        ci = "-" if v.ci_low is None else f"[{v.ci_low:.4g}, {v.ci_high:.4g}]"
        table.add_row(v.name, f"{v.weight:g}", f"{v.units:,}", f"{v.requests:,}", est, ci)
    console.print(table)
    tests = Table(title="against control")
    for col in (
        "variant",
        "difference",
        "test",
        "p",
        "interval",
        "mSPRT p",
        "always-valid interval",
    ):
        tests.add_column(col, justify="right")
    for c in report.comparisons:
        tests.add_row(
            c.variant, f"{c.difference:+.4g}", c.test, f"{c.pvalue:.3g}",
            f"[{c.ci_low:.4g}, {c.ci_high:.4g}]", f"{c.msprt_pvalue:.3g}",
            f"[{c.msprt_ci_low:.4g}, {c.msprt_ci_high:.4g}]",
        )  # fmt: skip
    console.print(tests)
    srm = "n/a" if report.srm_pvalue is None else f"p={report.srm_pvalue:.3g}"
    srm_state = "[red]MISMATCH[/]" if report.srm_mismatch else "ok"
    console.print(f"sample ratio: {srm} {srm_state}; decision: [bold]{report.decision}[/]")
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")


def _show_shadow(report: Any) -> None:
    from rich.table import Table

    table = Table(title=f"{report.endpoint}: shadow report")
    for col in ("side", "requests", "errors", "p50 ms", "p99 ms"):
        table.add_column(col, justify="left" if col == "side" else "right")
    for s in (report.primary, *report.shadows):
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        table.add_row(
            s.variant,
            f"{s.requests:,}",
            f"{s.errors:,}",
            fmt(s.latency_p50_ms),
            fmt(s.latency_p99_ms),
        )
    console.print(table)
    for c in report.comparisons:
        if c.task == "classification":
            console.print(f"{c.variant}: agreement {c.agreement:.2%} over {c.paired:,} requests")
        elif c.task == "regression" and c.difference:
            d = c.difference
            console.print(
                f"{c.variant}: shadow - primary mean {d['mean']:+.4g}, sd {d['std']:.4g}, "
                f"|diff| p50 {d['p50_abs']:.4g} p99 {d['p99_abs']:.4g} over {c.paired:,} requests"
            )
        else:
            console.print(f"{c.variant}: nothing to compare yet")
        for ex in c.disagreements[:5]:
            console.print(
                f"  [dim]{ex['request_id']}: primary {ex['primary']} shadow {ex['shadow']} {ex['inputs']}[/]"
            )
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
