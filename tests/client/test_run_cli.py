"""``contop run`` as a user runs it: a subprocess against a real server."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contop.security.sandbox import detect_sandbox
from contop.testing.server import ServerProcess
from tests.transport.conftest import devices, pair

pytestmark = pytest.mark.slow


def run_env(env: dict[str, str] | None = None) -> dict[str, str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("CONTOP_PAIR_URL", "CONTOP_HOME", "CONTOP_PORT")}
    full_env.update(env or {})
    return full_env


def local_env(server: ServerProcess) -> dict[str, str]:
    """What makes `contop run` pair through the local server's admin API."""
    return {"CONTOP_HOME": str(server.home), "CONTOP_PORT": str(server.port)}


def contop_run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contop", "run", *argv],
        capture_output=True,
        text=True,
        timeout=90,
        env=run_env(env),
        stdin=subprocess.DEVNULL,
    )


def test_tool_call_prints_the_result_and_exits_0(server: ServerProcess) -> None:
    done = contop_run("--pair", pair(server)["url"], "--tool", "execute_cli", "--args", '{"command": "echo run-ok"}')
    assert done.returncode == 0, done.stderr
    assert "run-ok" in done.stdout


def test_a_command_s_stderr_and_failure_reach_the_terminal(server: ServerProcess) -> None:
    url = pair(server)["url"]
    done = contop_run("--pair", url, "--tool", "execute_cli", "--args", '{"command": "echo err >&2; echo out"}')
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out\n" and "err" in done.stderr  # stderr was dropped when stdout had something
    done = contop_run("--pair", url, "--tool", "execute_cli", "--args", '{"command": "true"}')
    assert done.returncode == 0 and done.stdout == ""  # no output: nothing printed, not the result as JSON
    done = contop_run("--pair", url, "--tool", "execute_cli", "--args", '{"command": "echo half; exit 3"}')
    assert done.returncode == 1 and done.stdout == "half\n"
    assert "contop run: error" in done.stderr and "3" in done.stderr, done.stderr  # not the bare word "error"


def test_another_home_s_admin_token_is_explained(server: ServerProcess, tmp_path: Path) -> None:
    other = tmp_path / "other-home"
    other.mkdir(mode=0o700)
    (other / "admin.token").write_text("not-this-server-s-token\n")
    (other / "admin.token").chmod(0o600)
    done = contop_run("--port", str(server.port), "--tool", "get_action_history", env={"CONTOP_HOME": str(other)})
    assert done.returncode == 3
    assert f"no Contop server is running with {other}" in done.stderr, done.stderr
    assert "detail" not in done.stderr  # not the server's raw JSON


def test_a_bad_pairing_url_or_timeout_is_explained() -> None:
    done = contop_run("--pair", "http://192.168.1.20:8000/", "--tool", "get_action_history")
    assert done.returncode == 2 and "no '#p=' payload: copy the whole URL" in done.stderr, done.stderr
    done = contop_run("--timeout", "-1", "--tool", "get_action_history")
    assert done.returncode == 2 and "must be more than 0 seconds" in done.stderr, done.stderr


def test_json_prints_one_object_per_message(server: ServerProcess) -> None:
    env = {"CONTOP_PAIR_URL": pair(server)["url"]}
    done = contop_run("--json", "--tool", "get_action_history", env=env)
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    assert messages[-1]["type"] == "tool_result" and messages[-1]["payload"]["status"] == "success"


def test_intent_prints_progress_and_the_answer(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    steps = [{"thinking": "Let me look."}, {"tool": "get_action_history", "args": {}}, {"text": "All done here."}]
    script.write_text(json.dumps(steps))
    server = ServerProcess(tmp_path / "home", env={"CONTOP_EXECUTION_MODEL": f"scripted:{script}"}).start()
    try:
        url = pair(server)["url"]
        done = contop_run("--pair", url, "what did you do?")
        assert done.returncode == 0, done.stderr
        assert "All done here." in done.stdout and "did not complete" not in done.stderr
        done = contop_run("--pair", url, "--json", "again")
        assert done.returncode == 0, done.stderr
        messages = [json.loads(line) for line in done.stdout.splitlines()]
        assert messages[-1]["type"] == "agent_result" and "All done here." in messages[-1]["payload"]["answer"]
    finally:
        server.stop()


def test_an_interrupted_run_does_not_answer_the_next_one(tmp_path: Path) -> None:
    """The first run gives up while its intent is still running; the server cancels that intent and queues its
    result for the device. The next run must print its own answer, not that one."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"tool": "execute_cli", "args": {"command": "sleep 30"}}, {"text": "slow done"}]))
    server = ServerProcess(tmp_path / "home", env={"CONTOP_EXECUTION_MODEL": f"scripted:{script}"}).start()
    try:
        url = pair(server)["url"]
        done = contop_run("--pair", url, "--timeout", "3", "slow")
        assert done.returncode == 1 and "no result within 3 s; stopped the run on the desktop" in done.stderr
        script.write_text(json.dumps([{"text": "the quick answer"}]))
        done = contop_run("--pair", url, "--json", "quick")
        assert done.returncode == 0, done.stderr
        messages = [json.loads(line) for line in done.stdout.splitlines()]
        results = [m["payload"] for m in messages if m["type"] == "agent_result"]
        assert [r["answer"] for r in results] == ["the quick answer"]
        assert not any(m["type"] == "tool_result" for m in messages)  # nothing of the interrupted run
    finally:
        server.stop()


def test_a_refused_tool_call_exits_1(server: ServerProcess) -> None:
    done = contop_run("--pair", pair(server)["url"], "--tool", "format_disk")
    assert done.returncode == 1
    assert "blocked" in done.stderr


def test_pairs_through_the_local_server_when_no_url_is_given(server: ServerProcess) -> None:
    env = {"CONTOP_HOME": str(server.home), "CONTOP_PORT": str(server.port)}
    done = contop_run("--tool", "execute_cli", "--args", '{"command": "echo local"}', env=env)
    assert done.returncode == 0, done.stderr
    assert "local" in done.stdout


def test_the_home_alone_finds_its_servers_port(server: ServerProcess) -> None:
    # as `contop pair` does: the server's lock file says where it listens (the test server is not on 8000)
    done = contop_run(
        "--tool", "execute_cli", "--args", '{"command": "echo found"}', env={"CONTOP_HOME": str(server.home)}
    )
    assert done.returncode == 0 and done.stdout == "found\n", done.stderr


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_sigterm_stops_the_call_and_revokes_the_device_as_ctrl_c_does(
    server: ServerProcess, tmp_path: Path, sigint: str
) -> None:
    # `timeout 3 contop run …`, systemd or CI stopping it: the call went on and the device stayed paired. A job a
    # script starts with '&' has SIGINT ignored (`contop run … & kill $!`): SIGTERM must work there too.
    marker = tmp_path / "marker"
    args = json.dumps({"command": f"sleep 4; touch {marker}"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "contop", "run", "--tool", "execute_cli", "--args", args],
        env=run_env(local_env(server)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if sigint == "ignored" else None,
    )
    deadline = time.monotonic() + 20
    while not any(d["device_id"].startswith("contop-run-") for d in devices(server)["devices"]):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    time.sleep(1)  # the call has started
    proc.terminate()
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    assert not any(d["device_id"].startswith("contop-run-") for d in devices(server)["devices"])
    time.sleep(4.5)
    assert not marker.exists()  # the command was stopped with the run


def test_bad_arguments() -> None:
    assert contop_run("--tool", "x", "--args", "[1]", "--pair", "http://h/#p=x").returncode == 2
    assert contop_run("--pair", "http://h/#p=x").returncode == 2  # neither TEXT nor --tool
    done = contop_run("--pair", "http://127.0.0.1:1/#p=notbase64!", "hello")
    assert done.returncode == 2 and "pairing" in done.stderr


def scripted_server(tmp_path: Path, steps: list[dict[str, object]]) -> ServerProcess:
    script = tmp_path / "script.json"
    script.write_text(json.dumps(steps))
    return ServerProcess(tmp_path / "home", env={"CONTOP_EXECUTION_MODEL": f"scripted:{script}"}).start()


def test_runs_at_the_same_time_are_each_their_own_device_and_leave_no_device(tmp_path: Path) -> None:
    """Each run is its own device: the second no longer replaces the first's connection (which then lost its
    answer). The desktop runs one task at a time (two would drive one mouse and keyboard), so the second is refused
    with the name of the device whose task runs. Each device is revoked as its run ends: nothing piles up."""
    steps = [{"tool": "execute_cli", "args": {"command": "sleep 6; echo slept"}}, {"text": "slow finished"}]
    server = scripted_server(tmp_path, steps)
    try:
        argv = [sys.executable, "-m", "contop", "run"]
        env = run_env(local_env(server))
        runs = [
            subprocess.Popen([*argv, f"run {n}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for n in range(2)
        ]
        outputs = [run.communicate(timeout=90) for run in runs]
        ended = sorted(zip([run.returncode for run in runs], outputs, strict=True), key=lambda r: r[0])
        (ok, (out, err)), (refused, (_, why)) = ended
        assert ok == 0 and "slow finished" in out, err
        assert refused == 1, why
        # Two devices of one name: whichever started first is named, as "contop run" or "contop run (2)".
        assert re.search(r"error \(busy\): A task from contop run( \(2\))? is running on this desktop", why), why
        listed = devices(server)
        assert not [d for d in listed["devices"] if d["device_id"].startswith("contop-run")], listed["devices"]
        names = {e["device_id"]: e["device_name"] for e in listed["events"] if e["type"] == "connected"}
        # Two devices of one name at once: the later is "contop run (2)", so the busy message says which.
        assert len(names) == 2 and set(names.values()) == {"contop run", "contop run (2)"}, names
        assert json.loads((server.home / "tokens.json").read_text())["tokens"] == []  # temporary codes only
    finally:
        server.stop()


def test_a_timeout_stops_what_was_started_and_says_so(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    steps = [{"tool": "execute_cli", "args": {"command": f"sleep 3; touch {marker}-intent"}}, {"text": "done"}]
    server = scripted_server(tmp_path, steps)
    try:
        env = local_env(server)
        done = contop_run("--timeout", "1", "slow", env=env)
        assert done.returncode == 1
        assert "no result within 1 s; stopped the run on the desktop" in done.stderr, done.stderr
        done = contop_run("--json", "--timeout", "1", "slow", env=env)
        assert done.returncode == 1
        last = json.loads(done.stdout.splitlines()[-1])  # the stopped run's own result
        assert last["type"] == "agent_result" and last["payload"]["status"] == "cancelled", last
        tool = ("--tool", "execute_cli", "--args", json.dumps({"command": f"sleep 3; touch {marker}-tool"}))
        done = contop_run("--timeout", "1", *tool, env=env)
        assert done.returncode == 1
        assert "no result within 1 s; the call is stopped as this run ends" in done.stderr, done.stderr
        # A --pair code's device is not revoked, and a lost connection does not stop a direct tool call.
        pair_tool = ("--tool", "execute_cli", "--args", json.dumps({"command": "sleep 3"}))
        done = contop_run("--pair", pair(server)["url"], "--timeout", "1", *pair_tool)
        assert done.returncode == 1 and "the call goes on and may still finish on the desktop" in done.stderr
        time.sleep(4)
        assert not list(tmp_path.glob("marker*"))  # neither the intent's command nor the tool call finished
    finally:
        server.stop()


def test_json_keeps_stdout_json_when_an_approval_is_asked_at_a_terminal(server: ServerProcess, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    argv = ["run", "--json", "--tool", "execute_cli", "--args", json.dumps({"command": f"rm -rf {victim}"})]
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"y\n")  # the answer, waiting in the terminal until the question reads it
        done = subprocess.run(
            [sys.executable, "-m", "contop", *argv],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=90,
            env=run_env(local_env(server)),
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert done.returncode == 0, done.stderr
    assert "Approve execute_cli: rm -rf" in done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines()]  # every line is JSON: no question here
    assert messages[-1]["type"] == "tool_result" and messages[-1]["payload"]["status"] == "success"
    assert not victim.exists()


def test_what_happened_to_a_tool_call_is_said_on_stderr(server: ServerProcess, tmp_path: Path) -> None:
    env = local_env(server)
    done = contop_run("--tool", "execute_cli", "--args", '{"command": "seq 1 200000"}', env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1\n2\n") and len(done.stdout) < 60_000
    assert "stdout truncated: kept the first 51200 bytes" in done.stderr, done.stderr
    victim = tmp_path / "victim"
    victim.mkdir()
    done = contop_run("--tool", "execute_cli", "--args", json.dumps({"command": f"rm -rf {victim}"}), env=env)
    assert done.returncode == 1 and victim.exists()  # stdin is not a terminal: not approved
    assert "contop run: rejected: The user did not approve this call" in done.stderr, done.stderr
    done = contop_run("--tool", "execute_cli", "--args", '{"command": "sleep 5", "timeout": 1}', env=env)
    assert done.returncode == 1
    assert "contop run: error: The command timed out and was stopped." in done.stderr, done.stderr


def test_output_cut_to_fit_one_message_is_said_on_stderr(server: ServerProcess, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("".join(f"line {i} {'x' * 90}\n" for i in range(8000)))  # ~800 KB: more than one message holds
    args = json.dumps({"file_path": str(big), "limit": 100_000})
    done = contop_run("--tool", "read_file", "--args", args, env=local_env(server))
    assert done.returncode == 0, done.stderr
    assert "line 0 " in done.stdout and len(done.stdout) < 300_000
    assert "contop run: output cut to fit one message (stdout" in done.stderr, done.stderr


def test_a_file_name_that_is_not_utf8_is_listed_and_can_be_read(server: ServerProcess, tmp_path: Path) -> None:
    folder = tmp_path / "old-archive"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"r\xe9sum\xe9.txt"), "w") as fh:  # Latin-1 bytes in the name
        fh.write("the old CV\n")
    env = local_env(server)
    done = contop_run("--tool", "find_files", "--args", json.dumps({"pattern": "*", "path": str(folder)}), env=env)
    assert done.returncode == 0, done.stderr  # was: error (internal): PydanticSerializationError
    assert "r\ufffdsum\ufffd.txt" in done.stdout, done.stdout
    # The name as Python holds it (os.fsdecode: one lone surrogate per bad byte) still opens the file.
    name = os.fsdecode(b"r\xe9sum\xe9.txt")
    done = contop_run("--tool", "read_file", "--args", json.dumps({"file_path": f"{folder}/{name}"}), env=env)
    assert done.returncode == 0 and "the old CV" in done.stdout, done.stderr
    logs = sorted((server.home / "logs").glob("session-*.jsonl"))
    verified = subprocess.run(
        [sys.executable, "-m", "contop", "audit", "verify", *map(str, logs)], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "\\udce9" in logs[-1].read_text()  # the audit line keeps the exact name, escaped


@pytest.mark.skipif(detect_sandbox().backend is None, reason="no sandbox here: a blocked command is refused instead")
def test_a_command_blocked_on_the_host_says_it_ran_in_the_sandbox(server: ServerProcess) -> None:
    done = contop_run("--tool", "execute_cli", "--args", '{"command": "cat /etc/shadow"}', env=local_env(server))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "sandbox" in done.stderr and "/etc/shadow" in done.stderr, done.stderr
    # A failure in the sandbox ends with its exit code or its timeout, as on the host, not the sandbox line again.
    args = json.dumps({"command": "cat /etc/shadow; exit 7"})
    done = contop_run("--tool", "execute_cli", "--args", args, env=local_env(server))
    assert done.returncode == 1 and done.stderr.splitlines()[-1] == "contop run: error: exit code 7", done.stderr
    args = json.dumps({"command": "cat /etc/shadow; sleep 5", "timeout": 1})
    done = contop_run("--tool", "execute_cli", "--args", args, env=local_env(server))
    assert done.returncode == 1 and "timed out" in done.stderr.splitlines()[-1].lower(), done.stderr


def test_a_run_that_fails_says_so_on_stderr(tmp_path: Path) -> None:
    """The answer arrived, so the exit status is 0 (CONTRACTS); a script reading stderr or --json still sees it."""
    broken = tmp_path / "script.json"
    broken.write_text("{not json")
    server = ServerProcess(tmp_path / "home", env={"CONTOP_EXECUTION_MODEL": f"scripted:{broken}"}).start()
    try:
        done = contop_run("--pair", pair(server)["url"], "hello")
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert "The model could not be set up" in done.stdout
    assert "contop run: the run did not complete (status: failed)" in done.stderr, done.stderr


def test_the_approval_question_shows_what_a_command_would_hide_on_a_terminal(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A carriage return and an erase-line escape in a command made the question read '… ls -la …?' on a terminal,
    hiding the 'rm -rf' before them: the question shows them as escapes."""
    victim = tmp_path / "victim"
    victim.mkdir()
    command = f"rm -rf {victim} # \r\x1b[2Kls -la \u202etxt.exe"
    done = contop_run("--tool", "execute_cli", "--args", json.dumps({"command": command}), env=local_env(server))
    assert done.returncode == 1 and victim.exists()  # not a terminal: not approved
    question = next(line for line in done.stderr.splitlines() if line.startswith("Approve"))
    assert f"rm -rf {victim} # \\r\\x1b[2Kls -la \\u202etxt.exe" in question, question
    assert "\r" not in done.stderr and "\x1b" not in done.stderr and "\u202e" not in done.stderr


def test_the_steps_and_the_answer_cannot_rewrite_the_terminal(tmp_path: Path) -> None:
    """A step's command and the model's answer reached the terminal raw: '\\r' and erase-line made a step read
    'HIDDEN', and an answer could set colours or the window title."""
    steps = [
        {"tool": "execute_cli", "args": {"command": "echo ok # \x1b[2K\rHIDDEN"}},
        {"text": "line one\nanswer \x1b[31mRED\x1b[0m \x1b]0;pwned-title\x07"},
    ]
    server = scripted_server(tmp_path, steps)
    try:
        done = contop_run("--pair", pair(server)["url"], "x")
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\r" not in done.stdout and "\x07" not in done.stdout, done.stdout
    assert "echo ok # \\x1b[2K\\rHIDDEN" in done.stdout
    assert "line one\nanswer \\x1b[31mRED\\x1b[0m \\x1b]0;pwned-title\\x07" in done.stdout, done.stdout


def test_a_desktop_that_stops_answering_is_given_up_within_seconds(tmp_path: Path) -> None:
    """A frozen or vanished desktop (here: the server stopped with SIGSTOP) is noticed from its missing keepalives
    after 10 s, not after WebRTC's consent checks fail (about 30 s), and the user is told why."""
    server = ServerProcess(tmp_path / "home").start()
    try:
        argv = [sys.executable, "-m", "contop", "run", "--tool", "execute_cli", "--args", '{"command": "sleep 20"}']
        run = subprocess.Popen(
            argv, env=run_env(local_env(server)), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(3)  # connected, and the command runs
        assert run.poll() is None
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            _out, err = run.communicate(timeout=40)
            waited = time.monotonic() - stopped
        finally:
            server.proc.send_signal(signal.SIGCONT)
        assert run.returncode == 1, err
        assert "the desktop stopped answering" in err, err
        assert waited < 20, waited
    finally:
        server.stop()


def test_a_run_replaced_by_another_with_the_same_pairing_url_says_why_it_ended(server: ServerProcess) -> None:
    url = pair(server)["url"]
    argv = [sys.executable, "-m", "contop", "run", "--pair", url, "--tool", "execute_cli"]
    first = subprocess.Popen(
        [*argv, "--args", '{"command": "sleep 6"}'], env=run_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(3)  # connected, and its command runs
    contop_run("--pair", url, "--tool", "execute_cli", "--args", '{"command": "echo second"}')  # takes the device
    _out, err = first.communicate(timeout=60)
    assert first.returncode == 1, err
    assert "must take turns" in err, err


def test_another_devices_name_cannot_drive_the_terminal(tmp_path: Path) -> None:
    """QA: a device paired with escape sequences in its name (a guest with a temporary code is enough) had
    `contop run` print them raw in the busy message: the terminal's title changed, the screen cleared, a fake line
    appeared. Names are cleaned where the desktop takes them, and the CLI shows server text as escapes anyway."""
    import asyncio

    from contop.client.client import ContopClient

    evil = "Evil\x1b]0;pwned\x07\x1b[2J\x1b[31mRED\nfake: line\u202e"
    steps = [{"tool": "execute_cli", "args": {"command": "sleep 4; echo slept"}}, {"text": "slow finished"}]
    server = scripted_server(tmp_path, steps)
    try:

        async def busy_desk_then_run() -> subprocess.CompletedProcess[str]:
            url = (await asyncio.to_thread(server.pair, connection_type="temp"))["url"]
            phone = ContopClient(url, device_id="guest", device_name=evil, video=False)
            await phone.connect()
            try:
                phone.send({"type": "user_intent", "id": "guest-1", "payload": {"text": "sleep"}})
                await phone.next_message("agent_progress", timeout=30)
                return await asyncio.to_thread(contop_run, "hi", env=local_env(server))
            finally:
                await phone.aclose()

        done = asyncio.run(busy_desk_then_run())
        listed = devices(server)
    finally:
        server.stop()
    assert done.returncode == 1
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr and "\u202e" not in done.stderr, done.stderr
    assert "error (busy): A task from Evil ]0;pwned [2J [31mRED fake: line is running" in done.stderr, done.stderr
    names = {e["device_name"] for e in listed["events"]}
    assert "Evil ]0;pwned [2J [31mRED fake: line" in names, names
