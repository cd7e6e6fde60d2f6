"""The driver over TLS, against the emulator serving HTTPS with a CA made here: ca_cert, mutual TLS with
client_cert/client_key, verify, and tls_server_name for certificates that name the server, not its address."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from striv.drivers.base import DriverError
from striv.drivers.nomad import NomadDriver
from tests.emulators.nomad import NomadEmulator

#: The name Nomad's agents carry in their certificates (``server.<region>.nomad``), not the address's host.
SERVER_NAME = "server.global.nomad"
# Fixed validity, far around any clock a test runs at.
NOT_BEFORE, NOT_AFTER = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[str, str]:
    key_path, cert_path = path.with_suffix(".key"), path.with_suffix(".pem")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(cert_path), str(key_path)


def _issue(ca_key, ca_cert, common: str, *, dns: list[str], client: bool = False):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """A CA, a server certificate for SERVER_NAME only, and a client certificate, as files."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("striv test CA"))
        .issuer_name(_name("striv test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, _ = _write(folder / "ca", ca_key, ca_cert)
    server_pem, server_key = _write(folder / "server", *_issue(ca_key, ca_cert, SERVER_NAME, dns=[SERVER_NAME]))
    client_pem, client_key = _write(folder / "client", *_issue(ca_key, ca_cert, "striv", dns=[], client=True))
    return {
        "ca": ca_pem,
        "server": server_pem,
        "server_key": server_key,
        "client": client_pem,
        "client_key": client_key,
    }


def _context(pki: dict[str, str], *, mutual: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server"], pki["server_key"])
    if mutual:
        context.load_verify_locations(pki["ca"])
        context.verify_mode = ssl.CERT_REQUIRED  # as Nomad's tls { verify_https_client = true }
    return context


@pytest.fixture
def https_nomad(pki) -> Iterator[NomadEmulator]:
    emulator = NomadEmulator(tls=_context(pki, mutual=False)).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def mtls_nomad(pki) -> Iterator[NomadEmulator]:
    emulator = NomadEmulator(tls=_context(pki, mutual=True)).start()
    yield emulator
    emulator.stop()


def test_ca_cert_and_tls_server_name_verify_a_certificate_for_the_servers_name(https_nomad, pki):
    config = {"address": https_nomad.address, "ca_cert": pki["ca"], "tls_server_name": SERVER_NAME}
    health = NomadDriver(config).health()
    assert health.ok, health.detail


def test_without_tls_server_name_the_address_does_not_match_the_certificate(https_nomad, pki):
    health = NomadDriver({"address": https_nomad.address, "ca_cert": pki["ca"]}).health()
    assert not health.ok and "certificate" in health.detail.lower()


def test_a_wrong_tls_server_name_is_refused(https_nomad, pki):
    config = {"address": https_nomad.address, "ca_cert": pki["ca"], "tls_server_name": "client.global.nomad"}
    assert not NomadDriver(config).health().ok


def test_an_unknown_ca_fails_unless_verify_is_off(https_nomad):
    assert not NomadDriver({"address": https_nomad.address, "tls_server_name": SERVER_NAME}).health().ok
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        assert NomadDriver({"address": https_nomad.address, "verify": False}).health().ok


def test_mutual_tls_needs_the_client_certificate(mtls_nomad, pki):
    base = {"address": mtls_nomad.address, "ca_cert": pki["ca"], "tls_server_name": SERVER_NAME}
    assert not NomadDriver(base).health().ok
    driver = NomadDriver({**base, "client_cert": pki["client"], "client_key": pki["client_key"]})
    assert driver.health().ok
    with pytest.raises(DriverError):
        NomadDriver(base).runs_index()
    assert driver.runs_index() >= 0


def test_tls_server_name_is_a_config_field():
    assert NomadDriver.config_problems({"address": "https://10.0.0.1:4646", "tls_server_name": SERVER_NAME}) == {}
    assert "tls_server_name" in NomadDriver.config_problems({"address": "https://a:4646", "tls_server_name": 5})
