"""Default security lists of the settings file (the seed's lists plus the paths we always protect)."""

from __future__ import annotations

# Kept with '~' so the file stays portable; the gate expands it against the real home directory.
# The state directory itself is added at runtime (it depends on CONTOP_HOME).
DEFAULT_RESTRICTED_PATHS: tuple[str, ...] = (
    "~/.ssh",
    "~/.gnupg",
    "~/.aws",
    "~/.config/gcloud",
    "/root",
    "/etc/shadow",
    "/etc/passwd",
    "C:\\Windows",
    "C:\\Windows\\System32",
    "C:\\Windows\\SysWOW64",
)

DEFAULT_FORBIDDEN_COMMANDS: tuple[str, ...] = (
    "rm -rf /",
    "mkfs",
    "dd if=",
    "format C:",
    "del /f /s /q C:\\",
)

DEFAULT_DESTRUCTIVE_PATTERNS: tuple[str, ...] = (
    "rm", "rmdir", "del", "deltree", "rd", "erase",
    "mv", "kill", "killall", "pkill", "taskkill",
    "shutdown", "halt", "reboot", "poweroff",
    "format", "mkfs", "fdisk", "dd",
    "DROP TABLE", "DROP DATABASE", "TRUNCATE",
    "remove-item", "move-item", "stop-process",
    "restart-computer", "stop-computer",
    "clear-content", "clear-item",
)  # fmt: skip


def default_restricted_paths(state_dir: str) -> list[str]:
    """The default ``restricted_paths`` for a server whose state directory is ``state_dir``."""
    paths = list(DEFAULT_RESTRICTED_PATHS)
    if state_dir not in paths:
        paths.insert(4, state_dir)
    return paths
