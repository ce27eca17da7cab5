"""The public API of sdqkd.etsi014, frozen: a change here is a deliberate API change."""

from __future__ import annotations

import inspect

import sdqkd.etsi014
from sdqkd.errors import SdqkdError
from sdqkd.etsi014 import Etsi014Client, Etsi014ClientError, create_etsi014_app


def test_the_package_exports_models_service_app_and_client() -> None:
    assert set(sdqkd.etsi014.__all__) == {
        "Error",
        "Etsi014Client",
        "Etsi014ClientError",
        "Key",
        "KeyContainer",
        "KeyId",
        "KeyIds",
        "KeyRequest",
        "KeyService",
        "Status",
        "create_etsi014_app",
        "decode_key",
        "encode_key",
    }
    assert all(hasattr(sdqkd.etsi014, name) for name in sdqkd.etsi014.__all__)


def test_client_errors_are_sdqkd_errors() -> None:
    assert issubclass(Etsi014ClientError, SdqkdError)


def test_the_app_and_client_take_their_options_by_keyword() -> None:
    app_parameters = inspect.signature(create_etsi014_app).parameters
    assert [name for name, p in app_parameters.items() if p.kind is p.KEYWORD_ONLY] == [
        "title",
        "table",
        "checks",
        "max_key_ids",
    ]
    client_parameters = inspect.signature(Etsi014Client.__init__).parameters
    keyword_only = [name for name, p in client_parameters.items() if p.kind is p.KEYWORD_ONLY]
    assert keyword_only == ["cert", "key", "ca", "timeout_s", "http_client", "peer"]
    for method in ("status", "enc_keys", "dec_keys", "aclose", "__aenter__", "__aexit__"):
        assert inspect.iscoroutinefunction(getattr(Etsi014Client, method)), method
