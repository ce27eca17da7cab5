"""The RESTCONF server over real mutual TLS: who may read and write by certificate, and the event
stream delivered as server-sent events."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from restconf_support import (
    INTERFACE_NEW,
    JSON_HEADERS,
    LINKS,
    NODE,
    Pki,
    body_of,
    link,
    link_path,
    notifications,
)

from sdqkd.pki import IssuedCertificate, client_ssl_context
from sdqkd.restconf.notifications import NotificationStream
from sdqkd.server import BackgroundServer

pytestmark = pytest.mark.integration

DATA = "/restconf/data"

ClientOf = Callable[[IssuedCertificate], httpx.Client]


@pytest.fixture
def client_of(server: BackgroundServer, pki: Pki) -> Iterator[ClientOf]:
    """``client_of(issued)``: a client of the test's server presenting ``issued`` (closed after the test)."""
    clients: list[httpx.Client] = []

    def make(issued: IssuedCertificate) -> httpx.Client:
        context = client_ssl_context(issued.cert, issued.key, pki.ca.cert_path)
        clients.append(httpx.Client(base_url=server.url, verify=context, timeout=5))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def test_the_controller_and_the_operator_write_a_reader_only_reads(client_of: ClientOf, pki: Pki) -> None:
    controller, operator, reader = client_of(pki.controller), client_of(pki.operator), client_of(pki.reader)
    created = controller.post(f"{DATA}/{LINKS}", json=body_of("qkd_link", [link()]), headers=JSON_HEADERS)
    assert created.status_code == 201
    assert created.headers["location"].startswith("https://localhost:")
    changed = operator.put(
        f"{DATA}/{link_path()}/phys_wavelength", json=body_of("phys_wavelength", "40"), headers=JSON_HEADERS
    )
    assert changed.status_code == 204

    read = reader.get(f"{DATA}/{link_path()}")
    assert read.status_code == 200
    assert read.json()["etsi-qkd-sdn-node:qkd_link"][0]["phys_wavelength"] == "40"
    refused = reader.delete(f"{DATA}/{link_path()}")
    assert refused.status_code == 403
    assert refused.json()["ietf-restconf:errors"]["error"][0]["error-tag"] == "access-denied"
    assert client_of(pki.sae).get(f"{DATA}/{NODE}").status_code == 403


def test_host_meta_over_tls(client_of: ClientOf, pki: Pki) -> None:
    response = client_of(pki.reader).get("/.well-known/host-meta")
    assert response.status_code == 200
    assert 'href="/restconf"' in response.text
    assert response.headers["cache-control"] == "no-store"


def test_a_client_without_a_certificate_is_refused(server: BackgroundServer, pki: Pki) -> None:
    context = ssl.create_default_context(
        cafile=str(pki.ca.cert_path)
    )  # verifies the server, shows no certificate
    with (
        httpx.Client(base_url=server.url, verify=context, timeout=5) as anonymous,
        pytest.raises(httpx.TransportError),
    ):
        anonymous.get(f"{DATA}/{NODE}")


def test_the_event_stream_delivers_a_published_notification(
    server: BackgroundServer, pki: Pki, stream: NotificationStream
) -> None:
    context = client_ssl_context(pki.reader.cert, pki.reader.key, pki.ca.cert_path)
    timeout = httpx.Timeout(5.0, read=5.0)
    with (
        httpx.Client(base_url=server.url, verify=context, timeout=timeout) as reader,
        reader.stream("GET", "/restconf/streams/etsi-qkd-sdn-node/json") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        lines = response.iter_lines()
        assert next(lines) == ": subscribed"  # the server has subscribed: nothing published now is lost
        # published from another thread than the server's, as the owner may
        threading.Thread(target=stream.publish, args=(INTERFACE_NEW,)).start()
        received = next(notifications(lines))
    notification = received["ietf-restconf:notification"]
    assert (
        notification["etsi-qkd-sdn-node:sdqkdn_interface_new"]
        == INTERFACE_NEW["etsi-qkd-sdn-node:sdqkdn_interface_new"]
    )
    assert json.dumps(notification["eventTime"]).endswith('Z"')
