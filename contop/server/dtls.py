"""The server's persisted DTLS identity: generated once, its SHA-256 fingerprint is what the QR carries."""

from __future__ import annotations

import datetime
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from contop.core.clock import utcnow
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
    """Load ``cert.pem``/``key.pem`` from ``dtls_dir``, or generate and persist them (0600) when there are none.

    Every paired phone pins this identity's fingerprint, so it is never replaced lightly: a file that exists but
    cannot be read is a ``StateDirError`` (the owner fixes it), and corrupt or mismatched files are kept as
    ``<name>.corrupt-<time>`` before a new identity is made.
    """
    cert_path, key_path = dtls_dir / "cert.pem", dtls_dir / "key.pem"
    key_pem, cert_pem = _read(key_path), _read(cert_path)
    if key_pem is None and cert_pem is None:
        identity = _persist(dtls_dir, _generate())
        # files set aside by an earlier start that then failed to write the new identity
        if set_aside := sorted(p.name for p in dtls_dir.glob("*.pem.corrupt-*")):
            log.error(
                "generated a new DTLS identity (fingerprint %s) in %s, where an earlier one was set aside as %s. "
                "Phones paired with that one cannot connect any more: pair each of them again",
                identity.fingerprint, dtls_dir, ", ".join(set_aside),
            )  # fmt: skip
        else:
            log.info("generated a new DTLS certificate (fingerprint %s)", identity.fingerprint)
        return identity
    try:
        return _load(key_pem, cert_pem)
    except ValueError as exc:
        problem = str(exc)
    kept = [_keep(path) for path in (key_path, cert_path) if path.exists()]
    identity = _persist(dtls_dir, _generate())
    log.error(
        "DTLS identity in %s %s: kept the old files as %s and generated a new identity (fingerprint %s). Phones "
        "paired before cannot connect any more: pair each of them again",
        dtls_dir, problem, ", ".join(p.name for p in kept), identity.fingerprint,
    )  # fmt: skip
    return identity


def _read(path: Path) -> bytes | None:
    """The file's bytes, ``None`` when it does not exist; one that exists but cannot be read is an error."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateDirError(
            f"cannot read the DTLS identity file {path}: {exc.strerror or exc}. Paired phones rely on it, so it is "
            f"not replaced: make it a file readable by the user who runs contop (chmod 600 {path}) and start again, "
            "or move it away to start with a new identity (every phone must then be paired again)"
        ) from exc


def _load(key_pem: bytes | None, cert_pem: bytes | None) -> DtlsIdentity:
    """The identity the files hold; ``ValueError`` says what is wrong with them."""
    if key_pem is None or cert_pem is None:
        raise ValueError(f"has no {'key.pem' if key_pem is None else 'cert.pem'}")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"is corrupt ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or cert.public_key() != key.public_key():
        raise ValueError("has a key and a certificate that do not match")
    return DtlsIdentity(key=key, cert=cert)


def _keep(path: Path) -> Path:
    """Move ``path`` aside as ``<name>.corrupt-<time>`` (0600, it may hold the private key)."""
    target = path.with_name(f"{path.name}.corrupt-{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}")
    try:
        path.replace(target)
        target.chmod(0o600)
    except OSError as exc:
        raise StateDirError(f"cannot keep a copy of the DTLS identity file {path} before replacing it: {exc}") from exc
    return target


def _persist(dtls_dir: Path, identity: DtlsIdentity) -> DtlsIdentity:
    try:
        atomic_write(
            dtls_dir / "key.pem",
            identity.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        atomic_write(dtls_dir / "cert.pem", identity.cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise StateDirError(f"cannot write the DTLS identity to {dtls_dir}: {exc}") from exc
    return identity
