"""``sdqkd up``, ``down``, ``status``, and the roles ``up`` starts (``emulator``, ``kme``, ``agent``,
``controller``, ``service-manager``, ``web``): running a network."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from sdqkd.cli.output import OutputFormat, console, fmt, print_json
from sdqkd.runtime.rundir import RunDir
from sdqkd.server.logs import LogFormat

if TYPE_CHECKING:  # the engine itself (numpy, scipy, numba) is imported only by the commands that run it
    from sdqkd.emulator.protocol import EngineKind

__all__ = [
    "DEFAULT_RUN_DIR",
    "agent_command",
    "controller_command",
    "down_command",
    "emulator_command",
    "kme_command",
    "link_state_note",
    "links_table",
    "service_manager_command",
    "status_command",
    "up_command",
    "web_command",
]

DEFAULT_RUN_DIR = Path("run")
RunDirOption = Annotated[Path, typer.Option("--run-dir", help="The run directory (PKI, state, logs).")]
EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="How the emulated modules make key: rate (at the physics' key rate) or protocol (each "
        "pair runs the CV-QKD post-processing pipeline on simulated quadratures; docs/emulator.md).",
    ),
]
BlockSymbolsOption = Annotated[
    int,
    typer.Option(
        "--protocol-block-symbols",
        min=1,
        help="Symbols per post-processing block of the protocol engine (default 2^23).",
    ),
]
DEFAULT_BLOCK_SYMBOLS = 1 << 23  # sdqkd.emulator.protocol.DEFAULT_BLOCK_SYMBOLS
LogFormatOption = Annotated[
    LogFormat,
    typer.Option("--log-format", help="The log's lines: text, or json (one JSON object per line)."),
]


def _engine(name: str) -> EngineKind:
    """``--engine``: rate or protocol."""
    from sdqkd.errors import ConfigError

    if name == "rate":
        return "rate"
    if name == "protocol":
        return "protocol"
    raise ConfigError(f"--engine {name!r}: rate or protocol")


def link_state_note(link: dict[str, Any]) -> str:
    """What follows a link's status in the table: a switched link's time share (``, time-shared 48 %``:
    the fraction of the last window the switch served it), else why a link is not up."""
    if link.get("time_share") is not None and link["status"] in ("up", "standby"):
        return f", time-shared {round(100 * link['time_share'])} %"
    return f" ({link['reason']})" if link["status"] != "up" and link.get("reason") else ""


def links_table(links: list[dict[str, Any]], title: str = "QKD links") -> Table:
    """The links as ``sdqkd status`` shows them; with the emulator's ``protocol`` engine also what the
    post-processing blocks measured: β and FER (mean over the blocks; the last block's in brackets)
    and the key rate the blocks achieved."""
    protocol = any(link.get("protocol") for link in links)
    headers = ["link", "type", "nodes", "over", "status", "SKR kbit/s", "keys (256 bit)"]
    if protocol:
        headers += ["β", "FER", "blocks (no key)", "protocol kbit/s"]
    numeric = {"SKR kbit/s", "keys (256 bit)", "β", "FER", "blocks (no key)", "protocol kbit/s"}
    table = Table(title=title)
    for header in headers:
        table.add_column(header, justify="right" if header in numeric else "left")
    for link in links:
        style = {"up": "green", "standby": "yellow"}.get(link["status"], "red")
        virtual = link.get("type") == "VIRT"
        row = [
            link["id"],
            link.get("type", "PHYS"),
            " → ".join(link["path"] if virtual else link["nodes"]),
            "relay over " + ", ".join(link["hops"]) if virtual else link["fibre"],
            f"[{style}]{link['status']}[/]{link_state_note(link)}",
            fmt(link["skr_bps"] / 1e3, ".1f"),
            "" if virtual else f"{link['keys_available']:,}",
        ]
        if protocol:
            row += _protocol_cells(link.get("protocol"))
        table.add_row(*row)
    return table


def _protocol_cells(figures: dict[str, Any] | None) -> list[str]:
    """β, FER, blocks and achieved rate of a link of the protocol engine ("" where not measured)."""
    if not figures:
        return ["", "", "", ""]

    def mean_and_last(mean: float | None, last: float | None, spec: str) -> str:
        if mean is None:
            return "–"
        return f"{mean:{spec}} ({last:{spec}})" if last is not None else f"{mean:{spec}}"

    return [
        mean_and_last(figures["mean_efficiency"], figures["efficiency"], ".3f"),
        mean_and_last(figures["mean_frame_error_rate"], figures["frame_error_rate"], ".3f"),
        f"{figures['blocks']} ({figures['aborted']})",
        fmt(figures["key_rate_world_bps"] / 1e3, ".2f"),
    ]


def up_command(
    topology: Annotated[
        str, typer.Option("--topology", help="madrid, chain:N, grid:RxC or a YAML file.")
    ] = "madrid",
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    time_scale: Annotated[float, typer.Option("--time-scale", help="Run the world X times faster.")] = 1.0,
    yang_dir: Annotated[
        Path | None,
        typer.Option(
            "--yang-dir",
            help="Other ETSI GS QKD 015 YANG modules for the agents (default: $SDQKD_YANG_DIR, else the "
            "model shipped with sdqkd).",
        ),
    ] = None,
    control_channel: Annotated[
        str,
        typer.Option(
            "--control-channel",
            help="How the controller reaches the agents: mtls (HTTPS, mutual TLS) or qkd-tls (TLS 1.3 "
            "keyed by a QKD key and X25519MLKEM768; the QKD modules start commissioned).",
        ),
    ] = "mtls",
    controller_node: Annotated[
        str | None,
        typer.Option(
            "--controller-node", help="The controller's site with qkd-tls (default: the first node)."
        ),
    ] = None,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format", help="The services' log lines: text, or json (one JSON object per line)."
        ),
    ] = LogFormat.TEXT,
    engine: EngineOption = "rate",
    protocol_block_symbols: BlockSymbolsOption = DEFAULT_BLOCK_SYMBOLS,
    keep_keys: Annotated[
        bool,
        typer.Option(
            "--keep-keys",
            help="Keep the KMEs' key stores (RUN/kme/*.db) when the network stops; by default every "
            "key block is wiped from them at `sdqkd down` or Ctrl-C.",
        ),
    ] = False,
) -> None:
    """Start a whole network on this host and keep it running until Ctrl-C or `sdqkd down`."""
    from sdqkd.runtime.launcher import Progress, up

    seen: dict[str, str] = {}

    def on_links(links: list[dict[str, Any]]) -> None:
        for link in links:
            if link.get("type") == "VIRT":
                state = f"{link['status']} {link['path']} {len(link['configured_kmes'])}"
                configured = set(link["configured_kmes"]) == set(link["path"])
                if seen.get(link["id"]) != state and link["status"] == "up" and configured:
                    console.print(f"  [green]✓[/] {link['id']}: relayed via {' → '.join(link['path'])}")
                seen[link["id"]] = state
                continue
            state = f"{link['status']} {bool(link['keys_available'])}"  # once per change, not per key
            if seen.get(link["id"]) != state and link["status"] == "up" and link["keys_available"]:
                console.print(
                    f"  [green]✓[/] {link['id']}: key flowing at {link['skr_bps'] / 1e3:.1f} kbit/s"
                )
            seen[link["id"]] = state

    def ready(status: dict[str, Any]) -> None:
        console.print(links_table(status["links"], f"sdqkd network {status['topology']} — up"))
        nodes = {n["id"]: n for n in status["nodes"]}
        relayed = sorted(
            (lk for lk in status["links"] if lk.get("type") == "VIRT" and lk["status"] == "up"),
            key=lambda lk: -len(lk["path"]),
        )
        link = relayed[0] if relayed else next((lk for lk in status["links"] if lk["status"] == "up"), None)
        if link and all(nodes[n]["kme_url"] for n in link["nodes"]):
            master, slave = (nodes[n] for n in link["nodes"])
            m_sae, s_sae = master["saes"][0], slave["saes"][0]
            via = f", relayed via {' → '.join(link['path'])}" if link.get("type") == "VIRT" else ""
            pair = f"{m_sae['id']} to share with {s_sae['id']}{via}"
            console.print(f"\nETSI GS QKD 014: a key for {pair} (paste into a shell)")
            console.print(
                f"  curl --cacert {status['ca']} --cert {m_sae['cert']} --key {m_sae['key']} \\\n"
                f"       '{master['kme_url']}/api/v1/keys/{s_sae['id']}/enc_keys?number=1'\n"
                f"and the same key at the other end, once (KEY_ID from that answer):\n"
                f"  curl --cacert {status['ca']} --cert {s_sae['cert']} --key {s_sae['key']} \\\n"
                f"       '{slave['kme_url']}/api/v1/keys/{m_sae['id']}/dec_keys?key_ID=KEY_ID'",
                soft_wrap=True,
                highlight=False,
            )
        if status["controller"]["url"]:
            operator = status["operator"]
            console.print(
                f"\nSDN controller: {status['controller']['url']} "
                "(OpenAPI at /openapi.json; operator certificate):\n"
                f"  curl --cacert {status['ca']} --cert {operator['cert']} --key {operator['key']} \\\n"
                f"       '{status['controller']['url']}/api/v1/links'",
                soft_wrap=True,
                highlight=False,
            )
        if status["dashboard"]["url"]:
            token = RunDir(Path(status["run_dir"])).web_token.read_text(encoding="ascii").strip()
            console.print(
                f"\nDashboard: {status['dashboard']['url']}?token={token}", soft_wrap=True, highlight=False
            )
        console.print(f"\n`sdqkd status --run-dir {status['run_dir']}` shows the network; Ctrl-C or "
                      f"`sdqkd down --run-dir {status['run_dir']}` stops it.")  # fmt: skip

    up(
        topology,
        run_dir,
        time_scale,
        Progress(say=lambda text: console.print(f"• {text}"), links=on_links),
        ready,
        yang_dir=yang_dir,
        control_channel=control_channel,
        controller_node=controller_node,
        log_format=log_format,
        engine=_engine(engine),
        protocol_block_symbols=None
        if protocol_block_symbols == DEFAULT_BLOCK_SYMBOLS
        else protocol_block_symbols,
        keep_keys=keep_keys,
    )


def down_command(run_dir: RunDirOption = DEFAULT_RUN_DIR) -> None:
    """Stop the network running in a run directory."""
    from sdqkd.errors import SdqkdError
    from sdqkd.runtime.launcher import down

    if not down(run_dir):
        raise SdqkdError(f"the network in {run_dir} did not stop in time; its processes were killed")
    console.print(f"stopped the network in {run_dir}")


def status_command(
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.TABLE,
) -> None:
    """Show the running network: nodes, certificates, links and their key rates."""
    from sdqkd.runtime.status import network_status

    status = network_status(RunDir(run_dir.resolve()))
    if output is OutputFormat.JSON:
        print_json(status)
        return
    console.print(
        f"network {status['topology']} in {status['run_dir']}; emulator {status['emulator']['url']}"
    )
    if status["controller"]["url"]:
        console.print(f"SDN controller {status['controller']['url']}")
    if status["dashboard"]["url"]:
        console.print(f"dashboard {status['dashboard']['url']} (its token: `sdqkd up`'s output)")
    console.print(links_table(status["links"]))


def emulator_command(
    topology: Annotated[
        str, typer.Option("--topology", help="madrid, chain:N, grid:RxC or a YAML file.")
    ] = "madrid",
    run_dir: RunDirOption = DEFAULT_RUN_DIR,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0: a free one).")] = 0,
    time_scale: Annotated[float, typer.Option("--time-scale", help="Run the world X times faster.")] = 1.0,
    commissioned: Annotated[
        bool,
        typer.Option(
            "--commissioned",
            help="Start every QKD module paired for its topology links, as installed, making key "
            "before any controller configures it (not over a state file's configuration).",
        ),
    ] = False,
    log_format: LogFormatOption = LogFormat.TEXT,
    engine: EngineOption = "rate",
    protocol_block_symbols: BlockSymbolsOption = DEFAULT_BLOCK_SYMBOLS,
) -> None:
    """Run the emulated optical plant and QKD modules (HTTPS, mutual TLS) until stopped."""
    from sdqkd.errors import ConfigError
    from sdqkd.runtime.emulator_service import run_emulator

    if not time_scale > 0:
        raise ConfigError("--time-scale must be > 0")
    run_emulator(
        topology,
        run_dir.resolve(),
        host=host,
        port=port,
        time_scale=time_scale,
        commissioned=commissioned,
        log_format=log_format,
        engine=_engine(engine),
        protocol_block_symbols=protocol_block_symbols,
    )


def kme_command(
    config: Annotated[Path, typer.Option("--config", help="The KME's configuration file (YAML or JSON).")],
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Run a key management entity (ETSI GS QKD 014 for SAEs, KME↔KME sync) until stopped."""
    from sdqkd.runtime.kme_service import run_kme

    run_kme(config, log_format)


def agent_command(
    config: Annotated[Path, typer.Option("--config", help="The agent's configuration file (YAML or JSON).")],
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Run an SD-QKD node agent (ETSI GS QKD 015 over RESTCONF) until stopped."""
    from sdqkd.agent.service import run_agent

    run_agent(config, log_format)


def service_manager_command(
    config: Annotated[
        Path, typer.Option("--config", help="The service manager's configuration file (YAML or JSON).")
    ],
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Run a node's service manager (tunnel endpoints and other service processes on the
    controller's orders) until stopped; its processes stop with it."""
    from sdqkd.nfv.service import run_service_manager

    run_service_manager(config, log_format)


def controller_command(
    config: Annotated[
        Path, typer.Option("--config", help="The controller's configuration file (YAML or JSON).")
    ],
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Run the central SDN controller (registry, link provisioning, applications, northbound API)."""
    from sdqkd.controller.service import run_controller

    run_controller(config, log_format)


def web_command(
    config: Annotated[
        Path, typer.Option("--config", help="The dashboard's configuration file (YAML or JSON).")
    ],
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Run the operator's dashboard (HTTPS; the operator's certificate or the token) until stopped."""
    from sdqkd.web.service import run_web

    run_web(config, log_format)
