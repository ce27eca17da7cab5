"""``sdqkd emulator``: the emulator as a service process of a run (or on a host of its own)."""

from __future__ import annotations

from pathlib import Path

from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.engine import Emulator
from sdqkd.emulator.protocol import DEFAULT_BLOCK_SYMBOLS, EngineKind
from sdqkd.pki.identity import Role
from sdqkd.runtime.rundir import RunDir
from sdqkd.server.logs import LogFormat, configure_logging
from sdqkd.server.run import TlsFiles, serve_role
from sdqkd.topology.loader import load_topology

__all__ = ["run_emulator"]


def run_emulator(
    topology_spec: str,
    run_dir: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    time_scale: float = 1.0,
    tls: TlsFiles | None = None,
    *,
    commissioned: bool = False,
    log_format: LogFormat = LogFormat.TEXT,
    engine: EngineKind = "rate",
    protocol_block_symbols: int = DEFAULT_BLOCK_SYMBOLS,
) -> None:
    """Serve the emulated world of ``topology_spec`` until SIGINT/SIGTERM.

    Its certificate defaults to the run's ``emulator`` certificate. Once it accepts connections it
    records its URL and pid in ``RUN/emulator/endpoint.json`` (removed again on exit); its state
    file ``RUN/emulator/state.json`` makes a restart resume the plant and module configuration.
    ``commissioned``: the modules start configured for the topology's QKD links, unless the state
    file resumes them (:class:`~sdqkd.emulator.engine.Emulator`). ``engine``: how the modules make
    key (``protocol``: blocks of ``protocol_block_symbols`` through the post-processing pipeline,
    :mod:`sdqkd.emulator.protocol`). It logs ``log_format`` lines on stderr.
    """
    configure_logging(log_format, "emulator")
    run = RunDir(run_dir)
    if tls is None:
        cert, key = run.require_certificate(Role.EMULATOR, "emulator")
        tls = TlsFiles(cert=cert, key=key, ca=run.ca_cert, crl=run.pki / "crl.pem")
    topology = load_topology(topology_spec)
    run.emulator_dir.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(
        topology,
        time_scale=time_scale,
        state_file=run.emulator_state,
        commissioned=commissioned,
        engine=engine,
        protocol_block_symbols=protocol_block_symbols,
    )
    record = {"topology": topology.name}
    serve_role(create_emulator_app(emulator), tls, host, port, run.emulator_endpoint, record)
