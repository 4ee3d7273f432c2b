"""QA 31: the folder a ``cd`` leads to, as bash goes there. ``cd -P`` (and ``pushd -P``, ``set -P``, ``set -o
physical``) resolves links before ``..``, so ``cd -P /tmp/x/e/..`` with ``e -> /etc`` is ``/``; a write named
relative to a folder known only when the line runs (``cd "$(readlink -f /etc)" && echo x > hosts``) asks, as a
read there does, unless ``mktemp -d`` just made that folder; and ``cd NAME`` follows CDPATH to the first entry
holding NAME. Commands are only classified here, never run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from contop.core.defaults import default_restricted_paths
from contop.security.decision import GateContext
from contop.security.gate import classify_command
from tests.security.corpus_support import posix_context

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Disk:
    """A fake home (with an SSH key and a project) and, in /tmp, links to /etc and to that home."""

    root: Path
    home: Path
    links: Path  # holds e -> /etc and hm -> the home folder
    scratch: Path  # empty: where the lines make their own links


@pytest.fixture
def disk() -> Iterator[Disk]:
    with tempfile.TemporaryDirectory(dir="/tmp") as root:
        base = Path(root)
        home = base / "home"
        (home / ".ssh").mkdir(parents=True)
        (home / ".ssh" / "id_rsa").write_text("key")
        (home / "proj").mkdir()
        links = base / "x"
        links.mkdir()
        (links / "e").symlink_to("/etc")
        (links / "hm").symlink_to(home)
        (base / "s").mkdir()
        yield Disk(base, home, links, base / "s")


def context(disk: Disk) -> GateContext:
    state = str(disk.home / ".contop")
    return replace(
        posix_context(),
        home=str(disk.home),
        cwd=str(disk.home / "proj"),
        state_dir=state,
        restricted_paths=tuple(default_restricted_paths(state)),
        tmpdir="",
    )


def judge(command: str, disk: Disk) -> tuple[str, str]:
    filled = command.replace("{x}", str(disk.links)).replace("{s}", str(disk.scratch))
    decision = classify_command(filled, context(disk))
    return decision.verdict, decision.reason


def test_the_fixture_links_lead_where_the_tests_assume(disk: Disk) -> None:
    assert os.path.realpath(disk.links / "e" / "..") == "/"
    assert os.path.realpath(disk.links / "hm" / "..") == str(disk.root)


# ------------------------------------------------------------------------------------------- physical mode


@pytest.mark.parametrize(
    "command",
    [
        "cd -P {x}/e/.. && echo x > etc/hosts",
        "cd -P {x}/hm/..; cat home/.ssh/id_rsa",
        "ln -s /etc/ssl {s}/x; cd -P {s}/x/..; echo x > hosts",
        "ln -s ~/proj {s}/x; cd -P {s}/x/..; cat .ssh/id_rsa",
        "cd {x}/hm && cd -P .. && cat home/.ssh/id_rsa",
        "set -P; cd {x}/hm/..; cat home/.ssh/id_rsa",
        "set -eP; cd {x}/hm/..; cat home/.ssh/id_rsa",
        "set -o physical; cd {x}/e/..; echo x > etc/hosts",
        "set -e -o physical; cd {x}/e/..; echo x > etc/hosts",
        "pushd -P {x}/e/..; echo x > etc/hosts",
        "cd -LP {x}/e/.. && echo x > etc/hosts",  # the last of -L and -P wins
        "set -o physical; (set +o physical); cd {x}/e/..; echo x > etc/hosts",  # the subshell's own
        "cd -P {x}/e && echo x > hosts",
    ],
)
def test_a_physical_cd_resolves_links_before_going_up(command: str, disk: Disk) -> None:
    assert judge(command, disk)[0] == "block"


def test_an_option_known_only_when_it_runs_may_be_physical(disk: Disk) -> None:
    assert judge('set -o "$o"; cd {x}/e/..; echo x > etc/hosts', disk)[0] == "confirm"


@pytest.mark.parametrize(
    "command",
    [
        "cd {x}/e/.. && echo x > etc/hosts",  # logical: {x}/etc, a folder in /tmp
        "cd -L {x}/e/.. && echo x > etc/hosts",
        "cd -PL {x}/e/.. && echo x > etc/hosts",
        "set -P; set +P; cd {x}/e/..; echo x > etc/hosts",
        "(set -P); cd {x}/e/..; echo x > etc/hosts",
        "cd -P /tmp && echo x > notes.txt",
        "cd -P .. && ls",
        "set -e; cd {x}/e/..; echo x > etc/hosts",
    ],
)
def test_a_logical_cd_and_everyday_physical_ones_stay_safe(command: str, disk: Disk) -> None:
    assert judge(command, disk)[0] == "safe"


# ------------------------------------------------------------------------------------------- unknown folders


@pytest.mark.parametrize(
    "command",
    [
        'cd "$(readlink -f /etc)" && echo x > hosts',
        'cd "$(readlink -f /etc)" && echo x > ld.so.preload',
        'cd "$(readlink -f /etc)" && echo x >> profile',
        'cd "$(dirname /etc/hosts)" && echo x > hosts',
        'cd "$(realpath /etc)" && echo x > hosts',
        "cd `readlink -f /etc` && echo x > hosts",
        'cd "$X" && echo x > passwd',
        "cd $(cat f) && echo x > hosts",
        "cd $(cat f) && echo x >> .bashrc",
        'cd "$(readlink -f /etc)" && tee hosts < /dev/null',
        'cd "$(readlink -f /etc)" && cp /tmp/a hosts',
        'cd "$(readlink -f /etc)" && sed -i s/a/b/ hosts',
        'cd "$X" && cat > notes.txt',
        'cd "$(mktemp -p /etc -d)" && echo x > f',  # a template folder of the line's own: not followed
    ],
)
def test_a_write_relative_to_a_folder_known_only_when_it_runs_asks(command: str, disk: Disk) -> None:
    assert judge(command, disk)[0] != "safe"


@pytest.mark.parametrize(
    "command",
    [
        'cd "$(mktemp -d)" && echo x > f',
        'cd "$(mktemp -d)" && echo x > ../notes.txt',  # /tmp/notes.txt
        "cd $(mktemp -d) && curl -O https://example.com/x.tgz && tar xzf x.tgz",
        'cd "$(mktemp -d -t build.XXXX)" && echo x > f',
        'cd "$(git rev-parse --show-toplevel)" && make',
        'cd "$X" && ls',
        'cd "$(readlink -f /etc)" && echo x > /tmp/f',
        'cd "$(readlink -f /etc)" && echo x > /dev/null 2>&1',
    ],
)
def test_writes_in_a_fresh_temporary_folder_and_absolute_ones_stay_safe(command: str, disk: Disk) -> None:
    assert judge(command, disk)[0] == "safe"


# ------------------------------------------------------------------------------------------- CDPATH


@pytest.mark.parametrize(
    "command",
    [
        "CDPATH=/; cd etc; echo x > hosts",
        "export CDPATH=/; cd etc; echo x > hosts",
        "CDPATH=/ cd etc; echo x > hosts",
        "CDPATH=/etc; cd cron.d; echo x > job",
        "CDPATH=/nowhere:/etc; cd cron.d; echo x > job",  # a missing entry first: the line may make it
        "CDPATH=/etc; cd nothing-here; echo x > job",
        "CDPATH=$D; cd etc; echo x > hosts",
    ],
)
def test_cd_follows_cdpath_as_bash_does(command: str, disk: Disk) -> None:
    assert judge(command, disk)[0] != "safe"


@pytest.mark.parametrize(
    "command",
    [
        "CDPATH=/tmp; cd /etc; ls",
        "CDPATH=/etc; cd ./src; echo x > notes.txt",
        "CDPATH=/; cd tmp; echo x > notes.txt",
    ],
)
def test_cdpath_to_everyday_folders_stays_safe(command: str, disk: Disk) -> None:
    assert judge(command, disk)[0] == "safe"
