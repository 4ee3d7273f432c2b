"""The environment of a host process started for the agent: the server's own, without its secrets.

The agent can print its shell's environment (``echo $OPENAI_API_KEY``) and use its variables to reach files the
gate cannot see through (``cat $CONTOP_HOME/admin.token``), so what the server knows is not passed on: the
providers' API keys, every ``CONTOP_*`` variable, and any variable whose name says it holds a secret.
``PATH``, ``HOME``, the display and session bus, the locale and ``SSH_AUTH_SOCK`` (a socket path, not a key) stay.
"""

from __future__ import annotations

import ctypes
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from contop.core.settings import API_KEY_ENV

# A name ending in one of these words (GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, PGPASSWORD, MYSQL_PWD) or having one of
# the unambiguous ones as a word (AWS_SESSION_TOKEN_EXPIRY, SECRET_KEY_BASE) names a secret. Matched upper case:
# Windows names are case-insensitive.
_SECRET_NAME = re.compile(
    r"(?:_KEY|APIKEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|_PWD|CREDENTIALS?)$|"
    r"(?:^|_)(?:API_?KEY|ACCESS_KEY|PRIVATE_KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?)(?:_|$)"
)
_SERVER_PREFIX = "CONTOP_"


def _holds_secret(upper: str) -> bool:
    """Whether the variable named ``upper`` (upper case) holds a key: a provider's, or by its name."""
    return upper in _API_KEY_VARS or _SECRET_NAME.search(upper) is not None


def withheld(name: str) -> bool:
    """Whether the variable ``name`` of the server's environment is kept from the agent's processes."""
    upper = name.upper()
    return upper.startswith(_SERVER_PREFIX) or _holds_secret(upper)


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables ``withheld`` names."""
    return {name: value for name, value in environ.items() if not withheld(name)}


_API_KEY_VARS = frozenset(API_KEY_ENV.values())


def hide_own_secrets() -> list[str]:
    """Overwrite, with ``*``, the values of secret variables in the environment block this process started with,
    and return their names. Linux lets any process of the same user read that block (``/proc/<pid>/environ``);
    the gate refuses such reads, and this makes a read it misses find no key. Python's ``os.environ`` was copied
    from the block at start and keeps the values; C's ``getenv`` and a child started without ``env=`` see the
    stars. Does nothing where the block cannot be found and checked (other systems, a hardened /proc)."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        stat = Path("/proc/self/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()  # fields[0] is field 3 of proc(5)
        start, end = int(fields[47]), int(fields[48])  # env_start and env_end: fields 50 and 51
        block = Path("/proc/self/environ").read_bytes()
    except (OSError, ValueError, IndexError):
        return []
    if not block or end - start != len(block) or ctypes.string_at(start, len(block)) != block:
        return []  # not the memory we think it is: leave it alone
    hidden: list[str] = []
    offset = 0
    for entry in block.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        decoded = name.decode("utf-8", "replace")
        if sep and value and _holds_secret(decoded.upper()):
            ctypes.memset(start + offset + len(name) + 1, ord("*"), len(value))
            hidden.append(decoded)
        offset += len(entry) + 1
    return hidden
