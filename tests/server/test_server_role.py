"""A service process (:func:`sdqkd.server.serve_role`): its endpoint record appears once it accepts
connections, names it, and is gone once SIGTERM has stopped it; its ``tls`` section
(:class:`sdqkd.server.TlsConfig`) is read relative to the configuration file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from polling import wait_for
from sdqkd.errors import SdqkdError
from sdqkd.pki import IssuedCertificate, client_ssl_context
from sdqkd.server import TlsConfig, TlsFiles
from sdqkd.server.config import TLS_PATHS, load_config_file
from sdqkd.server.run import _Stopped


class _Service(BaseModel):
    tls: TlsConfig


_SERVICE = """
import sys
from pathlib import Path
from fastapi import FastAPI
from sdqkd.server import TlsFiles, serve_role
cert, key, ca, endpoint = map(Path, sys.argv[1:])
serve_role(FastAPI(), TlsFiles(cert, key, ca), "127.0.0.1", 0, endpoint, {"kme_id": "n1"})
"""


@pytest.mark.integration
def test_a_service_records_its_endpoint_once_it_serves_and_removes_it_when_stopped(
    server_tls: TlsFiles, operator_cert: IssuedCertificate, tmp_path: Path
) -> None:
    endpoint = tmp_path / "records" / "kme.endpoint.json"  # its folder is made when needed
    arguments = [str(path) for path in (server_tls.cert, server_tls.key, server_tls.ca, endpoint)]
    process = subprocess.Popen([sys.executable, "-c", _SERVICE, *arguments], stderr=subprocess.PIPE)
    try:
        wait_for(endpoint.exists, bool, timeout_s=30, what="the endpoint record")
        record = json.loads(endpoint.read_text(encoding="utf-8"))
        assert set(record) == {"url", "pid", "kme_id"}
        assert (record["pid"], record["kme_id"]) == (process.pid, "n1")
        assert record["url"].startswith("https://localhost:")
        verify = client_ssl_context(operator_cert.cert, operator_cert.key, server_tls.ca)
        with httpx.Client(verify=verify, timeout=10) as client:
            assert client.get(f"{record['url']}/nothing-here").status_code == 404  # it serves there

        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert not endpoint.exists()
    assert list(endpoint.parent.iterdir()) == []  # no temporary file left either


def test_the_tls_section_is_read_relative_to_the_configuration_file(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    path.write_text("tls: {cert: pki/kme-n1.crt, key: pki/kme-n1.key, ca: /etc/sdqkd/ca.crt}\n")

    loaded = load_config_file(path, _Service, "a service", TLS_PATHS)

    assert loaded.tls.files() == TlsFiles(
        tmp_path / "pki" / "kme-n1.crt", tmp_path / "pki" / "kme-n1.key", Path("/etc/sdqkd/ca.crt")
    )


def test_a_tls_section_written_out_reads_back_the_same() -> None:
    section = TlsConfig.of("pki/agent-n1.crt", "pki/agent-n1.key", "pki/ca.crt")
    assert section.to_json() == {"cert": "pki/agent-n1.crt", "key": "pki/agent-n1.key", "ca": "pki/ca.crt"}
    assert TlsConfig.model_validate(section.to_json()) == section


def test_the_signal_that_ends_serving_is_an_sdqkd_error() -> None:
    assert issubclass(_Stopped, SdqkdError)
