"""QA 31: a one-liner's links and writes are judged as the shell's: ``python3 -c "os.symlink('/etc', '/tmp/e')"``
makes the link ``ln -s /etc /tmp/e`` makes, so ``echo x > /tmp/e/hosts`` after it overwrites the hosts file; and
``open('/etc/hosts', 'w')``, ``fs.writeFileSync``, Perl's ``open(F, ">…")`` and the like write the file they name
as ``>`` does. Commands are only classified here, never run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from contop.security.gate import classify_command
from tests.security.corpus_support import POSIX_HOME, posix_context

pytestmark = pytest.mark.timeout(60)

CONFIG = "[project]\nname = 'x'\n"


@pytest.fixture
def scratch() -> Iterator[str]:
    """A real, empty folder in /tmp where the lines make their links (none of them exists on disk)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as root:
        yield root


@pytest.fixture
def project() -> Iterator[Path]:
    """A project outside /tmp holding a pyproject.toml, so that writing over it asks."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as root:
        folder = Path(root) / "proj"
        folder.mkdir()
        (folder / "pyproject.toml").write_text(CONFIG)
        yield folder


def judge(command: str, scratch: str = "", project: Path | None = None) -> tuple[str, str]:
    ctx = posix_context() if project is None else replace(posix_context(), cwd=str(project))
    decision = classify_command(command.replace("{s}", scratch).replace("{p}", str(project)), ctx)
    return decision.verdict, decision.reason


# ------------------------------------------------------------------------------------------- links


@pytest.mark.parametrize(
    "command",
    [
        "python3 -c \"import os; os.symlink('" + POSIX_HOME + "', '{s}/h')\"; cat {s}/h/.ssh/id_rsa",
        "python3 -c \"import os; os.symlink('/etc', '{s}/e')\"; echo x > {s}/e/hosts",
        "python3 -c \"import os; os.symlink('/etc', '{s}/e')\"; cp notes.txt {s}/e/hosts",
        "python3 -c \"import os; os.symlink('/etc/hosts', '{s}/e')\"; echo x > {s}/e",
        "python3 -c \"from pathlib import Path; Path('{s}/e').symlink_to('/etc')\"; echo x > {s}/e/hosts",
        "python3 -c \"import pathlib; pathlib.Path('{s}/h').symlink_to('" + POSIX_HOME + "')\"; cat {s}/h/.ssh/id_rsa",
        "node -e \"require('fs').symlinkSync('/etc', '{s}/e')\"; echo x > {s}/e/hosts",
        "node -e \"const fs = require('fs'); fs.symlinkSync('" + POSIX_HOME + "', '{s}/h')\"; cat {s}/h/.ssh/id_rsa",
        'perl -e \'symlink("/etc", "{s}/e")\'; echo x > {s}/e/hosts',
        'perl -e \'symlink "/etc", "{s}/e"\'; echo x > {s}/e/hosts',
        'ruby -e \'File.symlink("/etc", "{s}/e")\'; echo x > {s}/e/hosts',
        'ruby -e \'FileUtils.ln_s("/etc", "{s}/e")\'; echo x > {s}/e/hosts',
        'php -r \'symlink("/etc", "{s}/e");\'; echo x > {s}/e/hosts',
        "python3 -c \"import os; os.symlink('/etc', '{s}/e'); open('{s}/e/hosts', 'w').write('x')\"",
    ],
)
def test_a_link_a_one_liner_makes_is_followed(command: str, scratch: str) -> None:
    assert judge(command, scratch)[0] == "block"


def test_the_ln_versions_are_refused_too(scratch: str) -> None:
    assert judge("ln -s /etc {s}/e; echo x > {s}/e/hosts", scratch)[0] == "block"
    assert judge("ln -s " + POSIX_HOME + " {s}/h; cat {s}/h/.ssh/id_rsa", scratch)[0] == "block"


def test_a_link_to_the_project_then_writing_its_config_asks(scratch: str, project: Path) -> None:
    assert judge("echo x > pyproject.toml", scratch, project)[0] == "confirm"  # the direct write
    linked = "python3 -c \"import os; os.symlink('{p}', '{s}/p')\"; echo x > {s}/p/pyproject.toml"
    assert judge(linked, scratch, project)[0] == "confirm"


@pytest.mark.parametrize(
    "command",
    [
        "python3 -c \"import os; os.symlink(src, '{s}/e')\"; echo x > {s}/e/hosts",  # leads somewhere not known
        "python3 -c \"import os; os.symlink('/etc', dst)\"; echo x > {s}/e/hosts",  # made somewhere not known
    ],
)
def test_a_link_with_a_path_known_only_when_it_runs_asks(command: str, scratch: str) -> None:
    assert judge(command, scratch)[0] == "confirm"


@pytest.mark.parametrize(
    "command",
    [
        "python3 -c \"import os; os.symlink('/etc', '{s}/e')\"",  # a link alone, as 'ln -s /etc /tmp/e' is
        "python3 -c \"import os; os.symlink('/etc', '{s}/e')\"; echo x > {s}/other",
        "python3 -c \"import os; os.symlink('data', '{s}/d')\"; cat {s}/d/x.csv",
        "node -e \"require('fs').symlinkSync('../lib', 'node_modules/lib')\"",
    ],
)
def test_everyday_links_stay_safe(command: str, scratch: str) -> None:
    assert judge(command, scratch)[0] == "safe"


# ------------------------------------------------------------------------------------------- writes


@pytest.mark.parametrize(
    "command",
    [
        "python3 -c \"open('/etc/hosts','w').write('x')\"",
        "python3 -c \"open('/etc/hosts', mode='w').write('x')\"",
        "python3 -c \"import io; io.open('/etc/hosts', 'w')\"",
        "python3 -c \"open('/usr/bin/ls','wb')\"",
        "python3 -c \"from pathlib import Path; Path('/etc/hosts').write_text('x')\"",
        "python3 -c \"import pathlib; pathlib.Path('/etc/hosts').open('w').write('x')\"",
        "python3 -c \"import shutil; shutil.copy('x', '/etc/hosts')\"",
        "python3 -c \"import shutil; shutil.copyfile('x', '/etc/hosts')\"",
        "python3 -c \"import os; os.replace('x', '/etc/hosts')\"",
        "node -e \"require('fs').writeFileSync('/etc/hosts', 'x')\"",
        "node -e \"require('fs').copyFileSync('x', '/etc/hosts')\"",
        "node -e \"require('fs').createWriteStream('/usr/bin/ls')\"",
        'perl -e \'open(F, ">/etc/hosts"); print F "x"\'',
        'perl -e \'open(my $f, ">", "/etc/hosts"); print $f "x"\'',
        'ruby -e \'File.write("/etc/hosts", "x")\'',
        'ruby -e \'File.open("/etc/hosts", "w") { |f| f.puts 1 }\'',
        'php -r \'file_put_contents("/etc/hosts", "x");\'',
        "python3 -c \"open('/etc/cron.d/x','w').write('* * * * * root id')\"",
        "python3 -c \"import os; open(os.path.expanduser('~/.bashrc'), 'a').write('x')\"",
        "python3 -c \"import os; os.symlink('/etc', '{s}/e')\"; python3 -c \"open('{s}/e/hosts', 'w')\"",
    ],
)
def test_a_one_liner_writing_a_system_file_is_refused(command: str, scratch: str) -> None:
    assert judge(command, scratch)[0] == "block"


@pytest.mark.parametrize(
    "command",
    [
        "node -e \"require('fs').appendFileSync('/etc/hosts', 'x')\"",
        'perl -e \'open(my $f, ">>", "/etc/hosts"); print $f "x"\'',
        "python3 -c \"open('/etc/motd', 'w').write('x')\"",  # a system folder's file
    ],
)
def test_a_one_liner_appending_to_a_system_file_asks(command: str) -> None:
    assert judge(command)[0] == "confirm"


def test_writing_the_project_config_asks_as_the_redirect_does(project: Path) -> None:
    assert judge("echo x > {p}/pyproject.toml", project=project)[0] == "confirm"
    assert judge("python3 -c \"open('{p}/pyproject.toml','w').write('x')\"", project=project)[0] == "confirm"
    assert judge("node -e \"require('fs').writeFileSync('pyproject.toml', 'x')\"", project=project)[0] == "confirm"


@pytest.mark.parametrize(
    "command",
    [
        "python3 -c \"open('out.txt','w').write('x')\"",
        'python -c "print(1)"',
        "node -e \"fs.writeFileSync('dist/a.js', s)\"",
        "node -e \"require('fs').writeFileSync('dist/a.js', 'x')\"",
        "python3 -c \"open('/tmp/out.json','w').write('{}')\"",
        "python3 -c \"open('/etc/hosts').read()\"",  # reads
        "python3 -c \"open('/etc/hosts', 'r').read()\"",
        "perl -e 'open(F, \"</etc/hosts\"); print <F>'",
        "python3 -c \"open(name, 'w').write('x')\"",  # a name only known when it runs: as before
        "python3 -c \"import shutil; shutil.copy('a.txt', 'b.txt')\"",
        "python3 -c \"import shutil; shutil.copy('report.csv', '/tmp/')\"",
        'ruby -e \'File.write("notes.md", "x")\'',
        "python3 -c \"import json; json.dump({}, open('data.json', 'w'))\"",
    ],
)
def test_everyday_one_liner_writes_stay_safe(command: str, project: Path) -> None:
    assert judge(command, project=project)[0] == "safe"


@pytest.mark.parametrize(
    "command",
    [
        'python3 -c "' + "open(" * 2000 + "'x'" + ")" * 2000 + '"',  # each call scanned to its end: seconds
        'python3 -c "' + ";".join(f"open('/tmp/f{i}','w').write('x')" for i in range(40)) + '"',
        "perl -e '" + ";".join(f'open(F{i}, ">/tmp/x{i}")' for i in range(40)) + "'",
    ],
    ids=["nested", "many-writes", "perl-many-writes"],
)
def test_a_program_with_too_many_file_calls_to_judge_asks(command: str) -> None:
    verdict, reason = judge(command)
    assert verdict == "confirm" and "functions that make links or write files" in reason, reason
