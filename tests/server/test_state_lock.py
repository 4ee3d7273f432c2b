"""One server per state directory: a second `contop serve` on the same --home is refused (CONTRACTS.md §2)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from contop.testing.server import ServerProcess


def test_a_second_server_on_the_same_home_is_refused_and_the_first_keeps_its_codes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with ServerProcess(home) as first:
        code = first.request("POST", "/api/pair", headers={"Accept": "application/json"}).json()["token"]
        second = ServerProcess(home)
        second.log_path = tmp_path / "second.log"  # its own log, so what it says is its alone
        try:
            with pytest.raises(RuntimeError, match="exited with 1") as refused:
                second.start()
        finally:
            second.stop()  # in case it did start
        message = str(refused.value)
        assert first.proc is not None
        assert f"the state directory {home} is in use by another Contop server" in message
        assert f"pid {first.proc.pid}, listening on 127.0.0.1:{first.port}" in message
        # the first server still serves, and its permanent code is still on disk
        assert first.request("GET", "/api/pair/status").status_code == 200
        assert code in (home / "tokens.json").read_text()
    assert (home / "server.lock").read_text() == ""  # a clean stop says that nobody listens any more


def test_a_killed_server_leaves_no_stale_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = ServerProcess(home).start()
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    assert json.loads((home / "server.lock").read_text())["port"] == first.port  # left behind by kill -9...
    with ServerProcess(home) as again:  # ...and yet the directory is free
        assert again.request("GET", "/api/settings").status_code == 200
        assert json.loads((home / "server.lock").read_text())["port"] == again.port


def test_a_folder_holding_other_things_is_not_taken_as_a_state_directory(tmp_path: Path) -> None:
    # `--home ~` or `--home .` by mistake: it was made 0700 and the gate then kept the agent out of all of it
    import os
    import subprocess
    import sys

    documents = tmp_path / "someone" / "Documents"
    documents.mkdir(parents=True)
    (documents / "notes.txt").write_text("mine")
    os.chmod(tmp_path / "someone", 0o755)
    done = subprocess.run(
        [sys.executable, "-m", "contop", "serve", "--home", str(tmp_path / "someone"), "--port", "0", "--no-qr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "already holds other things (Documents) and nothing of Contop's" in done.stderr, done.stderr
    assert (tmp_path / "someone").stat().st_mode & 0o777 == 0o755  # left as it was
    assert sorted(os.listdir(tmp_path / "someone")) == ["Documents"]
    # A folder of the user's own named like one of Contop's (a home's ~/data) does not make the rest Contop's.
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "data" / "mydata.csv").write_text("x")
    (mine / "proj").mkdir()
    (mine / "notes.txt").write_text("hi")
    os.chmod(mine, 0o755)
    done = subprocess.run(
        [sys.executable, "-m", "contop", "serve", "--home", str(mine), "--port", "0", "--no-qr"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "already holds other things (notes.txt, proj) and nothing of Contop's" in done.stderr, done.stderr
    assert mine.stat().st_mode & 0o777 == 0o755 and sorted(os.listdir(mine)) == ["data", "notes.txt", "proj"]
    assert os.listdir(mine / "data") == ["mydata.csv"]
    # a new folder, an empty one, or one with only a settings.json written beforehand are all fine
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "settings.json").write_text("{}")
    server = ServerProcess(tmp_path / "prepared").start()
    server.stop()
    # and a state directory stays one, whatever its owner keeps beside Contop's files
    (tmp_path / "prepared" / "notes.txt").write_text("mine")
    ServerProcess(tmp_path / "prepared").start().stop()
