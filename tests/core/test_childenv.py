"""Which of the server's environment variables the agent's host processes do not inherit."""

from __future__ import annotations

import pytest

from contop.core.childenv import child_env, withheld
from contop.core.settings import API_KEY_ENV

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize("name", sorted(API_KEY_ENV.values()))
def test_provider_api_keys_are_withheld(name: str) -> None:
    assert withheld(name)


@pytest.mark.parametrize(
    "name",
    [
        "CONTOP_HOME", "CONTOP_EXECUTION_MODEL", "CONTOP_PAIR_URL", "CONTOP_PORT", "contop_home",
        "GITHUB_TOKEN", "GH_TOKEN", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_CLIENT_SECRET",
        "GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN",
        "PGPASSWORD", "MYSQL_PWD", "TWINE_PASSWORD", "STRIPE_SECRET_KEY", "SECRET_KEY_BASE", "DB_PASSWORD_FILE",
        "openai_api_key",
    ],
)  # fmt: skip
def test_secret_names_are_withheld(name: str) -> None:
    assert withheld(name)


@pytest.mark.parametrize(
    "name",
    [
        "PATH", "HOME", "USER", "SHELL", "LANG", "LC_ALL", "TERM", "DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY",
        "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "SSH_AUTH_SOCK", "PWD", "OLDPWD", "TMPDIR", "KEYBOARD",
        "GPG_TTY", "SUDO_ASKPASS", "VIRTUAL_ENV", "ProgramFiles", "COMSPEC",
    ],
)  # fmt: skip
def test_ordinary_names_are_kept(name: str) -> None:
    assert not withheld(name)


def test_child_env_keeps_values_of_what_it_keeps() -> None:
    env = {"PATH": "/usr/bin", "OPENAI_API_KEY": "sk-x", "CONTOP_HOME": "/s", "DISPLAY": ":1"}
    assert child_env(env) == {"PATH": "/usr/bin", "DISPLAY": ":1"}
