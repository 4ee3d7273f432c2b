"""The server's persisted DTLS identity: generated once, its SHA-256 fingerprint is what the QR carries."""

from __future__ import annotations

import datetime
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from contop.core.errors import StateDirError
from contop.server.statedir import atomic_write

log = logging.getLogger(__name__)

# DTLS peers check only the fingerprint, never the validity period; a long one keeps the QR's fingerprint stable.
_VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class DtlsIdentity:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate as ``AB:CD:…`` (the SDP ``a=fingerprint`` format)."""
        return fingerprint_of(self.cert)


def fingerprint_of(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def _generate() -> DtlsIdentity:
    # ECDSA P-256, as aiortc and browsers use for WebRTC.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"contop-{secrets.token_hex(8)}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + _VALIDITY)
        .sign(key, hashes.SHA256())
    )
    return DtlsIdentity(key=key, cert=cert)


def load_or_create(dtls_dir: Path) -> DtlsIdentity:
    """Load ``cert.pem``/``key.pem`` from ``dtls_dir``; generate and persist them (0600) when missing or unreadable."""
    cert_path, key_path = dtls_dir / "cert.pem", dtls_dir / "key.pem"
    if cert_path.exists() and key_path.exists():
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if isinstance(key, ec.EllipticCurvePrivateKey) and cert.public_key() == key.public_key():
                return DtlsIdentity(key=key, cert=cert)
            log.error("DTLS key and certificate in %s do not match; generating a new pair", dtls_dir)
        except (ValueError, OSError) as exc:
            log.error("DTLS identity in %s is unreadable (%s); generating a new one", dtls_dir, exc)
    identity = _generate()
    try:
        atomic_write(
            key_path,
            identity.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        atomic_write(cert_path, identity.cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise StateDirError(f"cannot write the DTLS identity to {dtls_dir}: {exc}") from exc
    log.info("generated a new DTLS certificate (fingerprint %s)", identity.fingerprint)
    return identity
