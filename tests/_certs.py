"""Test certificates: a private CA and a server certificate it signed, made with ``openssl``."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_certificates(folder: Path, dns_names: list[str], *, ip: str | None = None) -> Path:
    """Write ``ca.pem`` and a server ``cert.pem`` / ``key.pem`` for ``dns_names`` (and ``ip``)
    into ``folder``; the CA's path. Skips the test when the machine has no ``openssl``."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make certificates")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-days", "1", "-subj", "/CN=test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", folder / "ca.key", "-out", folder / "ca.pem",
    )  # fmt: skip
    _openssl(
        "req", *ec, "-subj", f"/CN={dns_names[0]}",
        "-keyout", folder / "key.pem", "-out", folder / "leaf.csr",
    )  # fmt: skip
    names = [f"DNS:{name}" for name in dns_names] + ([f"IP:{ip}"] if ip else [])
    (folder / "leaf.ext").write_text(
        f"subjectAltName={','.join(names)}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl(
        "x509", "-req", "-in", folder / "leaf.csr", "-days", "1", "-set_serial", "2",
        "-CA", folder / "ca.pem", "-CAkey", folder / "ca.key",
        "-extfile", folder / "leaf.ext", "-out", folder / "cert.pem",
    )  # fmt: skip
    return folder / "ca.pem"


def server_context(folder: Path) -> ssl.SSLContext:
    """A TLS server context with the certificate ``make_certificates`` wrote in ``folder``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context
