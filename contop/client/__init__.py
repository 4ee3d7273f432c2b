"""A Python client of the phone protocol over real WebRTC (for ``contop run``, scripts and end-to-end tests)."""

from contop.client.client import ClientError, ContopClient, FingerprintMismatch, SignalingRefused, signaling_urls

__all__ = ["ClientError", "ContopClient", "FingerprintMismatch", "SignalingRefused", "signaling_urls"]
