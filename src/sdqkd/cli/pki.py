"""``sdqkd pki``: create a certificate authority, issue role certificates, show what a certificate says,
revoke a certificate (the CA's CRL) and rotate one in place."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from rich.table import Table
from rich.text import Text

from sdqkd.cli.output import OutputFormat, console, print_json
from sdqkd.errors import ConfigError, PkiError
from sdqkd.pki.ca import CertificateAuthority
from sdqkd.pki.identity import Identity, Role, identity_of_certificate
from sdqkd.runtime.rundir import RunDir

__all__ = ["IssuableRole", "pki_app"]

pki_app = typer.Typer(
    help="The network's PKI: a CA and the certificates of KMEs, SAEs, agents and operators.",
    no_args_is_help=True,
)

_DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
# RFC 1123 §2.1 host names: dot-separated labels of letters, digits and inner hyphens, 253 characters at most.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_MAX_CA_NAME = 64  # RFC 5280 Appendix A: ub-common-name


class IssuableRole(StrEnum):
    """The roles ``sdqkd pki issue`` offers: every :class:`~sdqkd.pki.identity.Role` but ``ca``
    (a CA is created with ``sdqkd pki init``)."""

    KME = "kme"
    SAE = "sae"
    AGENT = "agent"
    CONTROLLER = "controller"
    OPERATOR = "operator"
    EMULATOR = "emulator"
    WEB = "web"


_ROLE_CHOICES = "|".join(IssuableRole)


def _issuable_role(value: str) -> str:
    # A plain string checked here rather than an Enum option: a missing Enum option's message lists the
    # choices on several lines, and sdqkd's errors are one line.
    if value not in set(IssuableRole):
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(IssuableRole)}")
    return value


FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table or json.")]
CaDirOption = Annotated[
    Path | None,
    typer.Option("--ca", metavar="DIR", help="The CA's directory (default: the run directory's pki/)."),
]
RunDirOption = Annotated[
    Path, typer.Option("--run-dir", metavar="DIR", help="The run directory whose CA (pki/) to use.")
]
CertDirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir", metavar="DIR", help="Where the certificate is, if issued with --out (default: the CA's)."
    ),
]
_DEFAULT_RUN_DIR = Path("run")
_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
}


def _holder(value: str) -> Identity:
    """``ROLE:NAME`` as an identity (a role ``sdqkd pki issue`` offers)."""
    role, _, name = value.partition(":")
    if not name or role not in set(IssuableRole):
        raise typer.BadParameter(f"{value!r} is not ROLE:NAME with ROLE one of {', '.join(IssuableRole)}")
    return Identity(Role(role), name)


def _ca_of(ca_dir: Path | None, run_dir: Path) -> CertificateAuthority:
    return CertificateAuthority.load(ca_dir if ca_dir is not None else RunDir(run_dir).pki)


@pki_app.command("init")
def init(
    directory: Annotated[
        Path, typer.Argument(metavar="DIR", help="Where to create the CA (ca.crt, ca.key).")
    ],
    name: Annotated[str, typer.Option("--name", help="The CA's common name.")] = "sdqkd CA",
) -> None:
    """Create a certificate authority in DIR; refuses if one is already there."""
    if not name.strip() or len(name) > _MAX_CA_NAME:
        raise ConfigError(f"invalid CA name {name!r}: 1 to {_MAX_CA_NAME} characters, not only spaces")
    try:
        ca = CertificateAuthority.create(directory, name)
    except OSError as exc:
        raise PkiError(f"cannot create a CA in {directory}: {exc.strerror or exc}") from exc
    console.print(Text(f"created CA {name!r} in {directory}"))
    console.print(Text(f"certificate: {ca.cert_path}  (every party verifies its peers against it)"))
    console.print(Text(f"key:         {ca.directory / 'ca.key'}  (mode 0600: keep it private)"))


@pki_app.command("issue")
def issue(
    ca_dir: Annotated[
        Path, typer.Option("--ca", metavar="DIR", help="The CA's directory (from `sdqkd pki init`).")
    ],
    role: Annotated[
        str,
        typer.Option("--role", metavar=_ROLE_CHOICES, help="The holder's role.", callback=_issuable_role),
    ],
    name: Annotated[
        str,
        typer.Option(
            "--name", metavar="ID", help="The holder's ID (SAE ID, node id, ...): letters, digits, _.-"
        ),
    ],
    hosts: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            metavar="HOST",
            help="A DNS name or IP address the holder serves on; repeat for more "
            "(default: localhost, 127.0.0.1, ::1).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Where to write the files (default: the CA's directory)."),
    ] = None,
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Issue a certificate for ROLE:NAME, signed by the CA, with the role's key usages (sae, operator:
    TLS client; web: TLS server; the others both); writes ROLE-NAME.crt and ROLE-NAME.key (mode 0600)."""
    chosen_hosts = _DEFAULT_HOSTS if not hosts else tuple(dict.fromkeys(_checked_host(h) for h in hosts))
    ca = CertificateAuthority.load(ca_dir)
    try:
        issued = ca.issue(Role(role), name, chosen_hosts, out)
    except OSError as exc:
        raise PkiError(f"cannot write the certificate to {out or ca_dir}: {exc.strerror or exc}") from exc
    data = {
        "role": str(issued.identity.role),
        "name": issued.identity.name,
        "urn": issued.identity.urn,
        "cert": str(issued.cert.absolute()),
        "key": str(issued.key.absolute()),
        "ca": str(ca.cert_path.absolute()),
    }
    if output is OutputFormat.JSON:
        print_json(data)
        return
    table = Table(title=f"issued {issued.identity}", show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for label, key in (("urn", "urn"), ("certificate", "cert"), ("key (0600)", "key"), ("CA", "ca")):
        table.add_row(label, Text(data[key]))
    console.print(table)


@pki_app.command("revoke")
def revoke(
    holder: Annotated[
        str | None,
        typer.Argument(metavar="ROLE:NAME", help="Whose current certificate (in the CA's directory)."),
    ] = None,
    serial: Annotated[
        str | None,
        typer.Option("--serial", metavar="HEX", help="Revoke this serial number instead (`pki show`)."),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", metavar="|".join(_REASONS), help="RFC 5280 reason code.")
    ] = "unspecified",
    ca_dir: CaDirOption = None,
    run_dir: RunDirOption = _DEFAULT_RUN_DIR,
    cert_dir: CertDirOption = None,
) -> None:
    """Revoke a certificate: the CA re-signs its CRL (crl.pem beside ca.crt). Services re-read it at
    their next connection and refuse the certificate from then on."""
    if (holder is None) == (serial is None):
        raise typer.BadParameter("give ROLE:NAME or --serial, not both")
    if reason not in _REASONS:
        raise typer.BadParameter(f"--reason {reason!r} is not one of {', '.join(_REASONS)}")
    try:
        target: Identity | int = _holder(holder) if holder is not None else int(str(serial), 16)
    except ValueError as exc:
        raise typer.BadParameter(f"--serial {serial!r} is not a hexadecimal number") from exc
    ca = _ca_of(ca_dir, run_dir)
    try:
        revoked = ca.revoke(target, _REASONS[reason], cert_dir)
    except OSError as exc:
        raise PkiError(f"cannot write the CRL {ca.crl_path}: {exc.strerror or exc}") from exc
    console.print(Text(f"revoked {holder or 'serial'} (serial {revoked:x}, {reason}); CRL: {ca.crl_path}"))


@pki_app.command("rotate")
def rotate(
    holder: Annotated[str, typer.Argument(metavar="ROLE:NAME", help="Whose certificate to re-issue.")],
    revoke_old: Annotated[
        bool, typer.Option("--revoke-old", help="Also revoke the certificate it replaces (superseded).")
    ] = False,
    ca_dir: CaDirOption = None,
    run_dir: RunDirOption = _DEFAULT_RUN_DIR,
    cert_dir: CertDirOption = None,
) -> None:
    """Re-issue ROLE:NAME's certificate in place (new key, new serial, the same host names). Servers
    serve with it from their next connection; clients use it once restarted."""
    identity = _holder(holder)
    ca = _ca_of(ca_dir, run_dir)
    try:
        issued = ca.rotate(identity, cert_dir, revoke_old=revoke_old)
    except OSError as exc:
        raise PkiError(
            f"cannot write {identity}'s certificate in {ca.directory}: {exc.strerror or exc}"
        ) from exc
    serial = _load_certificate(issued.cert).serial_number
    note = "; the old one is revoked" if revoke_old else "; the old one stays valid until revoked"
    console.print(Text(f"rotated {identity}: {issued.cert} (serial {serial:x}){note}"))


@pki_app.command("show")
def show(
    cert: Annotated[Path, typer.Argument(metavar="CERT", help="A certificate file (PEM or DER).")],
    output: FormatOption = OutputFormat.TABLE,
) -> None:
    """Show a certificate: its sdqkd identity, subject, issuer, alternative names, validity, serial."""
    data = _describe_certificate(_load_certificate(cert))
    if output is OutputFormat.JSON:
        print_json({"path": str(cert), **data})
        return
    identity = data["identity"]
    san = data["san"]
    table = Table(title=Text(str(cert)), show_header=False)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    rows = [
        ("role", identity["role"] if identity else "— (no sdqkd identity)"),
        ("name", identity["name"] if identity else "—"),
        ("urn", identity["urn"] if identity else "—"),
        ("subject", data["subject"]),
        ("issuer", data["issuer"]),
        ("DNS", ", ".join(san["dns"]) or "—"),
        ("IP", ", ".join(san["ip"]) or "—"),
        ("URI", ", ".join(san["uri"]) or "—"),
        ("not_before", data["not_before"]),
        ("not_after", data["not_after"]),
        ("serial", data["serial"]),
        ("sha256", data["sha256"]),
    ]
    for label, value in rows:
        table.add_row(label, Text(value))
    console.print(table)


def _describe_certificate(certificate: x509.Certificate) -> dict[str, Any]:
    """What ``sdqkd pki show`` reports about a certificate, as JSON-ready values.

    ``identity`` is None for a certificate without an ``urn:sdqkd:ROLE:NAME`` alternative name (a CA's).
    """
    try:
        identity: dict[str, str] | None = _identity_dict(certificate)
    except PkiError:
        identity = None
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        dns: list[str] = []
        ips: list[str] = []
        uris: list[str] = []
    else:
        dns = names.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
        uris = names.get_values_for_type(x509.UniformResourceIdentifier)
    return {
        "identity": identity,
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
        "san": {"dns": dns, "ip": ips, "uri": uris},
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "serial": format(certificate.serial_number, "x"),
        "sha256": certificate.fingerprint(hashes.SHA256()).hex(),
    }


def _identity_dict(certificate: x509.Certificate) -> dict[str, str]:
    identity = identity_of_certificate(certificate)
    return {"role": str(identity.role), "name": identity.name, "urn": identity.urn}


def _checked_host(host: str) -> str:
    """``host`` if it is an IP address or a DNS host name (a certificate could not name anything else)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if len(host) > 253 or not _HOSTNAME.fullmatch(host):  # fullmatch: no trailing newline slips through
        raise ConfigError(f"invalid --host {host!r}: not an IP address or a DNS host name")
    return host


def _load_certificate(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise PkiError(f"{path} is not an X.509 certificate (PEM or DER)") from exc
