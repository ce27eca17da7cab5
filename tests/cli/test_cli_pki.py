"""``sdqkd pki``: a CA is created once, issues a verifiable certificate for every role, and ``show`` reads
any certificate back; bad input ends with one error line."""

from __future__ import annotations

import ipaddress
import json
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sdqkd.cli.pki import IssuableRole
from sdqkd.pki.identity import Identity, Role, identity_of_certificate

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]

_USAGE, _INVALID = 2, 1  # exit statuses: command-line usage errors, sdqkd's own errors


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _alt_names(certificate: x509.Certificate) -> x509.SubjectAlternativeName:
    return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def _table_rows(output: str) -> dict[str, str]:
    """The field → value rows of a two-column rich table."""
    cells = [line.split("│")[1:3] for line in output.splitlines() if line.startswith("│")]
    return {field.strip(): value.strip() for field, value in cells}


@pytest.fixture
def ca_dir(sdqkd: Sdqkd, tmp_path: Path) -> Path:
    """A CA made by ``sdqkd pki init``."""
    directory = tmp_path / "ca"
    assert sdqkd("pki", "init", str(directory)).returncode == 0
    return directory


@pytest.fixture
def alice(sdqkd: Sdqkd, ca_dir: Path) -> Path:
    """The certificate of SAE ``alice-app``, serving on alice.example and 10.0.0.7."""
    result = sdqkd(
        "pki", "issue", "--ca", str(ca_dir), "--role", "sae", "--name", "alice-app",
        "--host", "alice.example", "--host", "10.0.0.7",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return ca_dir / "sae-alice-app.crt"


def test_init_creates_a_ca_certificate_and_a_key_only_its_owner_can_read(
    sdqkd: Sdqkd, tmp_path: Path
) -> None:
    directory = tmp_path / "new" / "ca"
    result = sdqkd("pki", "init", str(directory), "--name", "Madrid QKD CA")
    assert result.returncode == 0, result.stderr
    assert str(directory / "ca.crt") in result.stdout
    assert _mode(directory / "ca.key") == 0o600
    certificate = _certificate(directory / "ca.crt")
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert certificate.subject.rfc4514_string() == "CN=Madrid QKD CA"
    certificate.verify_directly_issued_by(certificate)  # self-signed


def test_init_refuses_a_directory_that_already_holds_a_ca(sdqkd: Sdqkd, ca_dir: Path) -> None:
    before = {path.name: path.read_bytes() for path in ca_dir.iterdir()}
    result = sdqkd("pki", "init", str(ca_dir))
    assert result.returncode == _INVALID
    (line,) = result.stderr.splitlines()
    assert line == f"sdqkd: error: a CA already exists in {ca_dir}"
    assert {path.name: path.read_bytes() for path in ca_dir.iterdir()} == before


def test_issue_offers_every_role_but_ca() -> None:
    assert {str(role) for role in IssuableRole} == {str(role) for role in Role} - {"ca"}


@pytest.mark.parametrize("role", [str(role) for role in IssuableRole])
def test_issue_writes_a_certificate_of_the_role_and_name_that_verifies_against_the_ca(
    sdqkd: Sdqkd, ca_dir: Path, role: str
) -> None:
    result = sdqkd("pki", "issue", "--ca", str(ca_dir), "--role", role, "--name", "node-7")
    assert result.returncode == 0, result.stderr
    cert, key = ca_dir / f"{role}-node-7.crt", ca_dir / f"{role}-node-7.key"
    assert str(cert) in result.stdout
    assert str(key) in result.stdout
    certificate = _certificate(cert)
    assert identity_of_certificate(certificate) == Identity(Role(role), "node-7")
    certificate.verify_directly_issued_by(_certificate(ca_dir / "ca.crt"))
    assert _mode(key) == 0o600


def test_issue_names_localhost_by_default(sdqkd: Sdqkd, ca_dir: Path) -> None:
    assert sdqkd("pki", "issue", "--ca", str(ca_dir), "--role", "kme", "--name", "n1").returncode == 0
    names = _alt_names(_certificate(ca_dir / "kme-n1.crt"))
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]


def test_custom_hosts_replace_the_defaults_in_the_subject_alternative_names(alice: Path) -> None:
    names = _alt_names(_certificate(alice))
    assert names.get_values_for_type(x509.DNSName) == ["alice.example"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:sdqkd:sae:alice-app"]


def test_issue_writes_into_the_out_directory_and_reports_json(
    sdqkd: Sdqkd, ca_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "apps" / "bob"
    result = sdqkd(
        "pki", "issue", "--ca", str(ca_dir), "--role", "sae", "--name", "bob-app",
        "--out", str(out), "--format", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "role": "sae",
        "name": "bob-app",
        "urn": "urn:sdqkd:sae:bob-app",
        "cert": str(out / "sae-bob-app.crt"),
        "key": str(out / "sae-bob-app.key"),
        "ca": str(ca_dir / "ca.crt"),
    }
    assert _mode(out / "sae-bob-app.key") == 0o600
    assert not (ca_dir / "sae-bob-app.crt").exists()


def test_show_prints_the_identity_and_alternative_names_in_a_table(sdqkd: Sdqkd, alice: Path) -> None:
    result = sdqkd("pki", "show", str(alice))
    assert result.returncode == 0, result.stderr
    rows = _table_rows(result.stdout)
    assert rows["role"] == "sae"
    assert rows["name"] == "alice-app"
    assert rows["urn"] == "urn:sdqkd:sae:alice-app"
    assert rows["subject"] == "CN=alice-app,OU=sae"
    assert rows["issuer"] == "CN=sdqkd CA"
    assert rows["DNS"] == "alice.example"
    assert rows["IP"] == "10.0.0.7"
    assert rows["URI"] == "urn:sdqkd:sae:alice-app"
    assert set(rows) >= {"not_before", "not_after", "serial"}


def test_show_reports_the_certificate_as_json(sdqkd: Sdqkd, alice: Path) -> None:
    result = sdqkd("pki", "show", str(alice), "--format", "json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    certificate = _certificate(alice)
    assert shown == {
        "path": str(alice),
        "identity": {"role": "sae", "name": "alice-app", "urn": "urn:sdqkd:sae:alice-app"},
        "subject": "CN=alice-app,OU=sae",
        "issuer": "CN=sdqkd CA",
        "san": {"dns": ["alice.example"], "ip": ["10.0.0.7"], "uri": ["urn:sdqkd:sae:alice-app"]},
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "serial": format(certificate.serial_number, "x"),
        "sha256": shown["sha256"],
    }
    assert len(shown["sha256"]) == 64


def test_show_reads_a_der_certificate_too(sdqkd: Sdqkd, alice: Path, tmp_path: Path) -> None:
    der = tmp_path / "alice.der"
    der.write_bytes(_certificate(alice).public_bytes(Encoding.DER))
    result = sdqkd("pki", "show", str(der), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["identity"]["urn"] == "urn:sdqkd:sae:alice-app"


def test_show_reports_no_identity_for_the_ca_certificate(sdqkd: Sdqkd, ca_dir: Path) -> None:
    result = sdqkd("pki", "show", str(ca_dir / "ca.crt"), "--format", "json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["identity"] is None
    assert shown["subject"] == shown["issuer"] == "CN=sdqkd CA"
    assert shown["san"] == {"dns": [], "ip": [], "uri": []}


@pytest.mark.parametrize(
    ("args", "status", "mentions"),
    [
        pytest.param(
            ["issue", "--ca", "{ca}", "--role", "ruler", "--name", "x"], _USAGE, ["--role"], id="role"
        ),
        pytest.param(
            ["issue", "--ca", "{ca}", "--role", "ca", "--name", "x"], _USAGE, ["--role"], id="role-ca"
        ),
        pytest.param(["issue", "--ca", "{ca}", "--name", "x"], _USAGE, ["--role"], id="no-role"),
        pytest.param(
            ["issue", "--ca", "{ca}", "--role", "sae", "--name", "a/b"], _INVALID, ["'a/b'"], id="name-slash"
        ),
        pytest.param(
            ["issue", "--ca", "{ca}", "--role", "sae", "--name", "-x"], _INVALID, ["'-x'"], id="name-dash"
        ),
        pytest.param(
            ["issue", "--ca", "{ca}", "--role", "sae", "--name", "a" * 65], _INVALID, ["name"], id="name-long"
        ),
        pytest.param(
            ["issue", "--ca", "{tmp}/no-ca", "--role", "sae", "--name", "x"], _INVALID, ["no-ca"], id="no-ca"
        ),
        pytest.param(
            ["issue", "--ca", "{ca}", "--role", "sae", "--name", "x", "--host", "bad host"],
            _INVALID,
            ["--host", "'bad host'"],
            id="host",
        ),
        pytest.param(
            ["issue", "--ca", "{ca}", "--role", "sae", "--name", "x", "--host", ""],
            _INVALID,
            ["--host"],
            id="host-empty",
        ),
        pytest.param(
            ["issue", "--ca", "{ca}", "--role", "sae", "--name", "x", "--out", "{ca}/ca.crt"],
            _INVALID,
            ["ca.crt"],
            id="out-is-a-file",
        ),
        pytest.param(
            ["show", "{ca}/ca.key"], _INVALID, ["ca.key", "not an X.509 certificate"], id="show-key"
        ),
        pytest.param(["show", "{tmp}/notes.txt"], _INVALID, ["not an X.509 certificate"], id="show-text"),
        pytest.param(["show", "{tmp}/missing.crt"], _INVALID, ["missing.crt"], id="show-missing"),
        pytest.param(["show", "{tmp}"], _INVALID, ["cannot read"], id="show-directory"),
        pytest.param(["show", "{ca}/ca.crt", "--format", "xml"], _USAGE, ["--format"], id="show-xml"),
        pytest.param(["init", "{ca}/ca.crt"], _INVALID, ["ca.crt"], id="init-in-a-file"),
        pytest.param(["init", "{tmp}/other", "--name", ""], _INVALID, ["CA name"], id="init-empty-name"),
    ],
)
def test_bad_input_ends_with_one_error_line_and_a_non_zero_status(
    sdqkd: Sdqkd, ca_dir: Path, tmp_path: Path, args: list[str], status: int, mentions: list[str]
) -> None:
    (tmp_path / "notes.txt").write_text("not a certificate\n", encoding="utf-8")
    result = sdqkd("pki", *(arg.format(ca=ca_dir, tmp=tmp_path) for arg in args))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == status
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("sdqkd: error: ")
    for mention in mentions:
        assert mention in line


def _crl(ca_dir: Path) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl((ca_dir / "crl.pem").read_bytes())


def test_revoke_puts_the_holders_certificate_on_the_cas_crl(sdqkd: Sdqkd, ca_dir: Path, alice: Path) -> None:
    serial = _certificate(alice).serial_number

    result = sdqkd("pki", "revoke", "sae:alice-app", "--ca", str(ca_dir), "--reason", "key-compromise")
    again = sdqkd("pki", "revoke", "--serial", format(serial, "x"), "--ca", str(ca_dir))

    assert result.returncode == 0, result.stderr
    assert format(serial, "x") in result.stdout
    assert again.returncode == 0, again.stderr
    crl = _crl(ca_dir)
    assert [entry.serial_number for entry in crl] == [serial]  # revoked once
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2


def test_revoke_takes_the_run_directorys_ca(sdqkd: Sdqkd, tmp_path: Path) -> None:
    assert sdqkd("pki", "init", str(tmp_path / "run" / "pki")).returncode == 0
    issued = sdqkd("pki", "issue", "--ca", str(tmp_path / "run" / "pki"), "--role", "kme", "--name", "north")
    assert issued.returncode == 0

    result = sdqkd("pki", "revoke", "kme:north", "--run-dir", str(tmp_path / "run"))

    assert result.returncode == 0, result.stderr
    assert len(list(_crl(tmp_path / "run" / "pki"))) == 1


@pytest.mark.parametrize(
    "args",
    [("sae",), ("ca:root",), ("nobody:x",), ("sae:alice-app", "--serial", "1f"), ("--serial", "xyz"), ()],
    ids=["no-name", "the-ca", "unknown-role", "both", "bad-serial", "neither"],
)
def test_revoke_refuses_what_names_no_certificate(
    sdqkd: Sdqkd, ca_dir: Path, alice: Path, args: tuple[str, ...]
) -> None:
    result = sdqkd("pki", "revoke", *args, "--ca", str(ca_dir))

    assert result.returncode == _USAGE
    assert not (ca_dir / "crl.pem").exists()


def test_revoke_of_a_holder_without_a_certificate_is_one_error_line(sdqkd: Sdqkd, ca_dir: Path) -> None:
    result = sdqkd("pki", "revoke", "sae:nobody", "--ca", str(ca_dir))

    assert result.returncode == _INVALID
    assert "no certificate" in result.stderr


def test_rotate_reissues_in_place_and_revokes_the_old_one_when_asked(
    sdqkd: Sdqkd, ca_dir: Path, alice: Path
) -> None:
    old = _certificate(alice)

    result = sdqkd("pki", "rotate", "sae:alice-app", "--ca", str(ca_dir), "--revoke-old")
    new = _certificate(alice)

    assert result.returncode == 0, result.stderr
    assert new.serial_number != old.serial_number
    assert new.public_key() != old.public_key()
    assert _alt_names(new) == _alt_names(old)  # same identity and hosts
    assert [entry.serial_number for entry in _crl(ca_dir)] == [old.serial_number]


def test_rotate_without_revoke_old_leaves_no_crl(sdqkd: Sdqkd, ca_dir: Path, alice: Path) -> None:
    result = sdqkd("pki", "rotate", "sae:alice-app", "--ca", str(ca_dir))

    assert result.returncode == 0, result.stderr
    assert "stays valid until revoked" in result.stdout
    assert not (ca_dir / "crl.pem").exists()


def test_rotate_and_revoke_find_a_certificate_issued_elsewhere_with_dir(
    sdqkd: Sdqkd, ca_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "app"
    assert (
        sdqkd(
            "pki", "issue", "--ca", str(ca_dir), "--role", "sae", "--name", "app", "--out", str(out)
        ).returncode
        == 0
    )
    old = _certificate(out / "sae-app.crt").serial_number

    rotated = sdqkd("pki", "rotate", "sae:app", "--ca", str(ca_dir), "--dir", str(out))
    revoked = sdqkd("pki", "revoke", "sae:app", "--ca", str(ca_dir), "--dir", str(out))

    assert rotated.returncode == 0, rotated.stderr
    assert revoked.returncode == 0, revoked.stderr
    new = _certificate(out / "sae-app.crt").serial_number
    assert new != old
    assert [entry.serial_number for entry in _crl(ca_dir)] == [new]
    assert not (ca_dir / "sae-app.crt").exists()
