"""The state directory (``$CONTOP_HOME``, default ``~/.contop``): its layout, modes and atomic writes."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from contop.core.errors import StateDirError

DIR_MODE = 0o700
SECRET_MODE = 0o600


def atomic_write(path: Path, data: bytes, *, mode: int = SECRET_MODE) -> None:
    """Write ``data`` to ``path`` so a reader (or a crash) sees either the old file or the new one, never half.

    Temp file in the same directory, created with ``mode`` from the start, fsync, rename, fsync the directory.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _ensure_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        path.chmod(DIR_MODE)


@dataclass(frozen=True)
class StateDir:
    """Paths of the state directory (CONTRACTS.md §2). ``ensure()`` creates it with the right modes."""

    root: Path

    @property
    def settings(self) -> Path:
        return self.root / "settings.json"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens.json"

    @property
    def admin_token(self) -> Path:
        return self.root / "admin.token"

    @property
    def dtls_dir(self) -> Path:
        return self.root / "dtls"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def skills_dir(self) -> Path:
        return self.root / "skills"

    def display(self) -> str:
        """The path as written into default settings: ``~/.contop`` when under the home directory."""
        home = Path.home()
        try:
            return "~/" + str(self.root.resolve().relative_to(home.resolve()))
        except ValueError:
            return str(self.root.resolve())

    def ensure(self) -> None:
        """Create the directory tree (0700) and check it is writable; raise ``StateDirError`` with advice if not."""
        try:
            for directory in (self.root, self.dtls_dir, self.data_dir, self.logs_dir, self.skills_dir):
                _ensure_dir(directory)
            probe = self.root / f".write-probe-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StateDirError(
                f"cannot use the state directory {self.root}: {exc.strerror or exc}. "
                "Fix its permissions or choose another with --home / CONTOP_HOME."
            ) from exc

    def load_or_create_admin_token(self) -> str:
        """The 256-bit admin token, created (0600, atomically) on first start."""
        path = self.admin_token
        try:
            token = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            token = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise StateDirError(f"cannot read {path}: {exc}") from exc
        if len(token) < 64:
            token = secrets.token_hex(32)
            atomic_write(path, token.encode("ascii") + b"\n")
        elif stat.S_IMODE(path.stat().st_mode) != SECRET_MODE:
            path.chmod(SECRET_MODE)
        return token
