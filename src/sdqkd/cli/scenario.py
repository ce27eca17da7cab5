"""``sdqkd scenario``: scripted experiments on a running network (or one started for them), each with a
report folder (``report.md``, ``report.json``, plots) and an exit status that says whether the scenario's
own checks held."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sdqkd.cli.network import DEFAULT_RUN_DIR, RunDirOption
from sdqkd.cli.output import console

__all__ = ["scenario_app"]

scenario_app = typer.Typer(
    help="Scripted experiments on a running network (started for them when none runs).", no_args_is_help=True
)
TimeScaleOption = Annotated[
    float,
    typer.Option(
        "--time-scale", help="The world's speed-up for a network the scenario starts (none running)."
    ),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="The report folder (default: RUN_DIR/scenarios/NAME).")
]


def _say(text: str) -> None:
    console.print(f"• {text}", highlight=False)


def _finish(name: str, report_paths: tuple[Path, Path], summary: list[str], passed: bool) -> None:
    markdown, data = report_paths
    console.print(f"\n{name}: {'passed' if passed else '[red]FAILED[/]'}", highlight=False)
    for line in summary:
        console.print(f"  {line}", highlight=False)
    console.print(f"report: {markdown} (and {data.name}, plots, in {markdown.parent})", highlight=False)
    if not passed:
        raise typer.Exit(1)


@scenario_app.command("coexistence")
def coexistence(
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    time_scale: TimeScaleOption = 10.0,
    out: OutOption = None,
    fibre: Annotated[str, typer.Option("--fibre", help="The shared fibre.")] = "concepcion-norte",
    phase_s: Annotated[
        float, typer.Option("--phase-s", min=0.0, help="How long each phase is held, s.")
    ] = 10.0,
    settle_timeout_s: Annotated[
        float, typer.Option("--settle-timeout-s", min=1.0, help="How long the controller may take, s.")
    ] = 60.0,
) -> None:
    """Quantum and classical channels in one fibre: no classical load, the classical channels back, the
    operator raising power and adding channels behind the controller's back, and the undo; the time until
    every link is back at target, the actions, and whether a channel went below its floor."""
    from sdqkd.scenarios.coexistence import run_coexistence
    from sdqkd.scenarios.coexistence_report import coexistence_report
    from sdqkd.scenarios.network import attach
    from sdqkd.scenarios.report import write_report

    with attach(run_dir, time_scale, _say) as network:
        record = run_coexistence(network, fibre, phase_s, settle_timeout_s, _say)
        folder = out or network.run.root / "scenarios" / "coexistence"
        report = coexistence_report(record, folder)
    _finish("coexistence", write_report(report, folder), report.summary, report.passed)


@scenario_app.command("switching")
def switching(
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    time_scale: TimeScaleOption = 10.0,
    out: OutOption = None,
    switch: Annotated[
        str | None, typer.Option("--switch", help="The switch (default: the first switched transmitter).")
    ] = None,
    duration_s: Annotated[
        float, typer.Option("--duration-s", min=1.0, help="How long to consume key, s.")
    ] = 60.0,
    rate: Annotated[
        float, typer.Option("--rate", min=0.1, help="Keys per second each application pair fetches.")
    ] = 20.0,
    key_bits: Annotated[int, typer.Option("--key-bits", min=8, help="Key size, bits.")] = 256,
) -> None:
    """One transmitter shared by several receivers through an optical switch, with applications at every
    receiver consuming key over ETSI GS QKD 014: time shares, moves, pools, and the key made against ideal
    time-sharing."""
    from sdqkd.scenarios.network import attach
    from sdqkd.scenarios.report import write_report
    from sdqkd.scenarios.switching import run_switching
    from sdqkd.scenarios.switching_report import switching_report

    with attach(run_dir, time_scale, _say) as network:
        record = run_switching(network, switch, duration_s, rate, key_bits, _say)
        folder = out or network.run.root / "scenarios" / "switching"
        report = switching_report(record, folder)
    _finish("switching", write_report(report, folder), report.summary, report.passed)
