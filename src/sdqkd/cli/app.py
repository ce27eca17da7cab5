"""The ``sdqkd`` command: sub-commands, and one place where errors become one-line messages."""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from sdqkd import __version__
from sdqkd.cli.deploy import deploy_command
from sdqkd.cli.hybrid import hybrid_app
from sdqkd.cli.keyrate import keyrate
from sdqkd.cli.network import (
    agent_command,
    controller_command,
    down_command,
    emulator_command,
    kme_command,
    service_manager_command,
    status_command,
    up_command,
    web_command,
)
from sdqkd.cli.opot import opot_app
from sdqkd.cli.optical import optical_app
from sdqkd.cli.pki import pki_app
from sdqkd.cli.plan import plan
from sdqkd.cli.plant import plant_app
from sdqkd.cli.postproc import postproc_app
from sdqkd.cli.qtls import qtls_app
from sdqkd.cli.scenario import scenario_app
from sdqkd.cli.services import service_app
from sdqkd.cli.tunnel import tunnel_app
from sdqkd.errors import SdqkdError

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="sdqkd",
    help="sdqkd — a software-defined QKD network (the Madrid Quantum Network in software).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("keyrate")(keyrate)
app.command("plan")(plan)
app.command("up")(up_command)
app.command("down")(down_command)
app.command("status")(status_command)
app.command("emulator")(emulator_command)
app.command("kme")(kme_command)
app.command("agent")(agent_command)
app.command("controller")(controller_command)
app.command("service-manager")(service_manager_command)
app.command("web")(web_command)
app.command("deploy")(deploy_command)
app.add_typer(plant_app, name="plant")
app.add_typer(optical_app, name="optical")
app.add_typer(service_app, name="service")
app.add_typer(scenario_app, name="scenario")
app.add_typer(pki_app, name="pki")
app.add_typer(hybrid_app, name="hybrid")
app.add_typer(tunnel_app, name="tunnel")
app.add_typer(qtls_app, name="qtls")
app.add_typer(opot_app, name="opot")
app.add_typer(postproc_app, name="postproc")


def _print_version(value: bool) -> None:
    # An eager option's callback runs while the options are parsed, before a sub-command is required.
    if value:
        print(f"sdqkd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    """sdqkd — a software-defined QKD network (the Madrid Quantum Network in software)."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input ends with one line on stderr and a non-zero status, never a traceback.

    Exit status: 0 success, 1 invalid input or parameters (sdqkd's own errors), 2 command-line
    usage errors (unknown option, malformed value).
    """
    args = sys.argv[1:] if argv is None else argv
    try:
        status = app(args=args or ["--help"], prog_name="sdqkd", standalone_mode=False)
    except TyperException as exc:
        message = " ".join(exc.format_message().split())  # typer wraps some messages over several lines
        print(f"sdqkd: error: {message}", file=sys.stderr)
        return int(exc.exit_code)
    except typer.Abort:
        print("sdqkd: aborted", file=sys.stderr)
        return 130
    except SdqkdError as exc:
        print(f"sdqkd: error: {exc}", file=sys.stderr)
        return 1
    return status if isinstance(status, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
