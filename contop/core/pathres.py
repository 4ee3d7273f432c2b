"""How a path argument given to a tool is turned into an absolute path.

The security gate and the tools both use this, so the gate judges exactly the path the tool will open.
Pure string work: no file system access (the gate adds realpath() on top for symlinks).
"""

from __future__ import annotations

import ntpath
import posixpath
import re
from collections.abc import Mapping

_WIN_ENV = re.compile(r"%([A-Za-z_][A-Za-z0-9_()]*)%")
_POSIX_ENV = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
# Windows paths that ntpath.normpath() would give back unchanged: a drive, then names that are neither empty nor
# '.' nor '..' (most paths, and the working directory), and relative paths of such names, perhaps after '.\'.
# ntpath is pure Python off Windows and costs the gate a few microseconds per path; these skip it.
_WIN_NAMES = r"(?!\.\.?(?:\\|\Z))[^\\]+(?:\\(?!\.\.?(?:\\|\Z))[^\\]+)*"
_WIN_NORMAL = re.compile(rf"[A-Za-z]:\\{_WIN_NAMES}")
_WIN_RELATIVE = re.compile(rf"(?:\.\\)?({_WIN_NAMES})")


def expand_path(
    raw: str,
    *,
    cwd: str,
    home: str,
    windows: bool = False,
    env: Mapping[str, str] | None = None,
) -> str:
    """Resolve ``raw`` the way a tool does: ``~``, ``$HOME``/``%USERPROFILE%``, relative to ``cwd``, ``..``.

    ``env`` supplies other variables; HOME / USERPROFILE always come from ``home``.
    Returns a normalised absolute path (forward slashes on POSIX, backslashes on Windows).
    """
    path = raw.strip()
    variables: dict[str, str] = {}
    if "$" in path or "%" in path:  # most paths name no variable: skip building the table
        variables.update(env or {})
        variables["HOME"] = home
        variables["USERPROFILE"] = home
    if windows:
        if variables:
            path = _WIN_ENV.sub(lambda m: _lookup(variables, m.group(1), m.group(0), fold=True), path)
            path = _POSIX_ENV.sub(lambda m: _lookup(variables, m.group(1) or m.group(2), m.group(0), fold=True), path)
        if path == "~" or path.startswith(("~/", "~\\")):
            path = home + path[1:]
        path = path.replace("/", "\\")
        if _WIN_NORMAL.fullmatch(path):
            return path
        base = cwd.replace("/", "\\")
        if (relative := _WIN_RELATIVE.fullmatch(path)) and ":" not in path and _WIN_NORMAL.fullmatch(base):
            return base + "\\" + relative.group(1)
        if not ntpath.isabs(path):
            path = ntpath.join(base, path)
        return ntpath.normpath(path)
    if variables:
        path = _POSIX_ENV.sub(lambda m: _lookup(variables, m.group(1) or m.group(2), m.group(0)), path)
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    elif path.startswith("~") and (user := _USER_HOME.match(path)):
        path = _home_of(user.group(1), path)
    if not path.startswith("/"):
        path = posixpath.join(cwd, path)
    normalised = posixpath.normpath(path)
    # POSIX keeps a leading '//' as implementation-defined; for our purposes it is '/'.
    if normalised.startswith("//"):
        normalised = "/" + normalised.lstrip("/")
    return normalised


_USER_HOME = re.compile(r"~([A-Za-z_][A-Za-z0-9_.-]*)(?=/|$)")


def _home_of(user: str, path: str) -> str:
    """``~name/rest`` as the shell reads it: that user's home, or the word unchanged for an unknown user."""
    try:
        import pwd

        return pwd.getpwnam(user).pw_dir.rstrip("/") + path[1 + len(user) :]
    except (ImportError, KeyError):
        return path


def _lookup(variables: Mapping[str, str], name: str, original: str, *, fold: bool = False) -> str:
    if name in variables:
        return variables[name]
    if fold:
        for key, value in variables.items():
            if key.upper() == name.upper():
                return value
    return original


def is_within(path: str, root: str, *, windows: bool = False) -> bool:
    """True when ``path`` is ``root`` or lies inside it (component-wise, so ``/rootfs`` is not in ``/root``)."""
    if windows:
        p = ntpath.normpath(path.replace("/", "\\")).rstrip("\\").casefold()
        r = ntpath.normpath(root.replace("/", "\\")).rstrip("\\").casefold()
        return p == r or p.startswith(r + "\\")
    p = posixpath.normpath(path)
    r = posixpath.normpath(root)
    if r == "/":
        return True
    return p == r or p.startswith(r.rstrip("/") + "/")
