"""The exception hierarchy of Contop; third-party errors are translated into these at the boundary."""

from __future__ import annotations


class ContopError(Exception):
    """Base of every error Contop raises on purpose."""


class ConfigError(ContopError):
    """Settings or command-line configuration is invalid."""


class StateDirError(ContopError):
    """The state directory cannot be created, read or written."""


class PairingError(ContopError):
    """A pairing token is missing, invalid, expired, revoked or claimed by another device."""


class ToolError(ContopError):
    """A tool was called with bad arguments or could not do its job; the message is shown to the model and user."""


class NoDesktopError(ToolError):
    """A tool or manual control needs the desktop, and there is none (no display, or it went away)."""


class NotAvailableError(ContopError):
    """A capability is not available on this machine or in this build; the message says what to install."""


class SecurityBlocked(ContopError):
    """The security gate refused a tool call."""
