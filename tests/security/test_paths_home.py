"""A restricted entry that is the user's own home does not forbid all of that user's work."""

from __future__ import annotations

from contop.core.defaults import default_restricted_paths
from contop.security.decision import GateContext, ToolCall
from contop.security.gate import decide
from contop.security.paths import use_resolver


def ctx(home: str, cwd: str) -> GateContext:
    return GateContext(
        platform="posix",
        cwd=cwd,
        home=home,
        state_dir=f"{home}/.contop",
        restricted_paths=tuple(default_restricted_paths(f"{home}/.contop")),
        forbidden_commands=(),
        destructive_patterns=(),
    )


def test_root_user_can_work_in_their_home_but_secrets_stay_protected() -> None:
    with use_resolver(None):
        root = ctx("/root", "/root/project")
        assert decide(ToolCall("execute_cli", {"command": "ls -la"}), root).verdict == "safe"
        assert decide(ToolCall("read_file", {"file_path": "/root/project/notes.txt"}), root).verdict == "safe"
        assert decide(ToolCall("read_file", {"file_path": "/root/.ssh/id_rsa"}), root).verdict == "block"
        assert decide(ToolCall("read_file", {"file_path": "/root/.contop/admin.token"}), root).verdict == "block"
        assert decide(ToolCall("execute_cli", {"command": "cat ~/.aws/credentials"}), root).verdict == "block"
        # Another user's agent still may not touch root's home.
        alice = ctx("/home/alice", "/home/alice")
        assert decide(ToolCall("read_file", {"file_path": "/root/project/notes.txt"}), alice).verdict == "block"
        assert decide(ToolCall("execute_cli", {"command": "ls /root"}), alice).verdict == "block"
