"""Where the desktop app finds the server's files in the state directory (it reads them; the server owns them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROVIDERS: tuple[str, ...] = ("anthropic", "gemini", "openai")


@dataclass(frozen=True)
class DesktopPaths:
    home: Path

    @property
    def admin_token(self) -> Path:
        return self.home / "admin.token"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def server_log(self) -> Path:
        return self.logs_dir / "server.log"

    def proxy_log(self, provider: str) -> Path:
        return self.home / f"proxy-{provider}.log"

    def read_admin_token(self) -> str:
        """The admin token, or "" while the server has not created it yet."""
        try:
            return self.admin_token.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return ""
