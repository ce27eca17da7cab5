"""``sdqkd deploy``: prepare a network on several hosts (certificates, configurations, commands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sdqkd.cli.output import OutputFormat, console, print_json

__all__ = ["deploy_command"]


def deploy_command(
    addresses: Annotated[
        Path,
        typer.Option("--addresses", help="YAML: the controller's, the emulator's and each node's address."),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="A new folder: one sub-folder per host is written there.")
    ],
    topology: Annotated[
        str, typer.Option("--topology", help="madrid, chain:N, grid:RxC or a YAML file.")
    ] = "madrid",
    time_scale: Annotated[float, typer.Option("--time-scale", help="Run the world X times faster.")] = 1.0,
    yang_dir: Annotated[
        Path | None,
        typer.Option(
            "--yang-dir",
            help="Other ETSI GS QKD 015 YANG modules for the agents, copied to the node hosts (default: "
            "$SDQKD_YANG_DIR, else none: the agents use the model shipped with sdqkd).",
        ),
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.TABLE,
) -> None:
    """Prepare a multi-host deployment: a CA, and per host its certificates, configurations and commands."""
    from sdqkd import etsi015
    from sdqkd.runtime.deploy import deploy, load_addresses

    chosen = etsi015.yang_dir(yang_dir)
    # the packaged model is on every host with sdqkd: nothing to copy
    copied = None if chosen == etsi015.packaged_yang_dir().resolve() else chosen
    deployment = deploy(topology, load_addresses(addresses), out, time_scale=time_scale, yang_dir=copied)
    if output is OutputFormat.JSON:
        print_json(deployment.to_json())
        return
    console.print(f"• CA in {out / 'ca'}: its key stays there, never on the hosts", highlight=False)
    if deployment.yang_dir is not None:
        console.print(
            f"• the ETSI GS QKD 015 YANG modules of {deployment.yang_dir} are copied into each node host's "
            "yang/ folder",
            highlight=False,
        )
    console.print(
        f"• {len(deployment.hosts)} hosts. Copy each folder to its host; there, run each command from "
        "inside the folder as its own service, the hosts in this order:",
        highlight=False,
    )
    for host in deployment.hosts:
        console.print(f"\n{host.address} ({', '.join(host.roles)}): {host.folder}", highlight=False)
        for command in host.commands:
            console.print(f"  {command.shell}", highlight=False, soft_wrap=True)
    ca, cert, key = deployment.ca_cert, deployment.operator_cert, deployment.operator_key
    console.print(
        f"\nThe operator (certificate in {ca.parent}), once the agents have called home:\n"
        f"  curl --cacert {ca} --cert {cert} --key {key} {deployment.controller_url}/api/v1/links",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"Everything above is in {out / 'deployment.json'}.", highlight=False)
