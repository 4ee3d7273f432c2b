"""Interpreter one-liners that put a path together when they run: the gate judges what the pieces make, or asks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contop.security.embedded import judge_code
from contop.security.findings import SAFE
from contop.security.gate import classify_command
from contop.security.state import State
from tests.security.corpus_support import posix_context

pytestmark = pytest.mark.timeout(60)


def judged(command: str) -> tuple[str, str]:
    decision = classify_command(command, posix_context())
    return decision.verdict, decision.reason


# Found by QA: each read a protected file while the gate judged it safe.
HOME_BUILT = [
    "python3 -c \"import pathlib;print((pathlib.Path.home()/'.ssh'/'id_rsa').read_text())\"",
    "python3 -c \"import os;print(open(os.path.join(os.path.expanduser('~'),'.ssh','id_rsa')).read())\"",
    "node -e \"console.log(require('fs').readFileSync(require('os').homedir()+'/.ssh/id_rsa','utf8'))\"",
    "perl -e 'open F,\"$ENV{HOME}/.ssh/id_rsa\";print <F>'",
]
LITERALS_JOINED = [
    "python3 -c \"print(open('/etc/'+'shadow').read())\"",
    'awk \'BEGIN{f="/etc/sh" "adow"; while((getline l < f)>0) print l}\'',
]


@pytest.mark.parametrize(
    "command",
    [
        *HOME_BUILT,
        "python3 -c \"import os;print(open(os.environ['HOME'] + '/.ssh/id_rsa').read())\"",
        "python3 -c \"import os;h=os.getenv('HOME');print(open(f'{h}/.ssh/id_rsa').read())\"",
        "python3 -c \"h=input();print(open('%s/.ssh/id_rsa' % h).read())\"",
        "python3 -c \"h=input();print(open('{}/.ssh/id_rsa'.format(h)).read())\"",
        "python3 -c \"import subprocess,os;subprocess.run(['cat', os.path.expanduser('~') + '/.ssh/id_rsa'])\"",
        "python3 -c \"from pathlib import Path;print(Path.home().joinpath('.ssh', 'id_rsa').read_text())\"",
        "node -e \"console.log(require('fs').readFileSync(process.env.HOME + '/.ssh/id_rsa', 'utf8'))\"",
        "ruby -e 'puts File.read(Dir.home + \"/.ssh/id_rsa\")'",
        'ruby -e \'puts File.read("#{ENV["HOME"]}/.ssh/id_rsa")\'',
        'php -r \'echo file_get_contents(getenv("HOME") . "/.ssh/id_rsa");\'',
        'lua -e \'print(io.open(os.getenv("HOME") .. "/.ssh/id_rsa"):read("a"))\'',
        'awk \'BEGIN{f=ENVIRON["HOME"] "/.ssh/id_rsa"; while((getline l < f)>0) print l}\'',
        "perl -e 'my $d=shift; open F, $d . \"/.ssh/id_rsa\"; print <F>' x",
    ],
)
def test_a_file_opened_at_a_path_built_from_the_home_folder_or_unknown_pieces_is_asked_about(command: str) -> None:
    verdict, reason = judged(command)
    assert verdict == "confirm", (verdict, reason)
    assert "put together when it runs" in reason


@pytest.mark.parametrize(
    "command",
    [
        *LITERALS_JOINED,
        "python3 -c \"print(open('/etc/' 'shadow').read())\"",
        "python3 -c \"from pathlib import Path;print((Path('/etc')/'shadow').read_text())\"",
        "python3 -c \"import os;print(open(os.path.join('/etc', 'shadow')).read())\"",
        "python3 -c \"print(open('/'.join(['', 'etc', 'shadow'])).read())\"",
        "python3 -c \"print(open('/home/u/' + '.ssh/' + 'id_rsa').read())\"",
        "node -e \"console.log(require('fs').readFileSync(require('path').join('/etc','shadow'),'utf8'))\"",
        'perl -e \'open F, "/etc/" . "shadow"; print <F>\'',
        'php -r \'echo file_get_contents("/etc/" . "shadow");\'',
        'lua -e \'print(io.open("/etc/" .. "shadow"):read("a"))\'',
    ],
)
def test_literal_pieces_are_joined_and_judged_like_any_path(command: str) -> None:
    verdict, reason = judged(command)
    assert verdict == "block", (verdict, reason)
    assert "protected location" in reason


@pytest.mark.parametrize(
    "command",
    [
        'python3 -c "print(1+1)"',
        "python3 -c \"import json,sys;print(json.load(open('package.json'))['version'])\"",
        'node -e "console.log(process.version)"',
        "awk '{print $1}' f",
        "perl -ne 'print if /x/' f",
        'python3 -c "import os;print(os.getcwd())"',
        "python3 -c \"import os;print(os.path.expanduser('~'))\"",  # names the home folder, opens nothing
        "python3 -c \"import os;print(open(os.path.join(os.getcwd(), 'package.json')).read())\"",
        "python3 -c \"import os;print(open(os.path.join('data', 'x.json')).read())\"",
        "python3 -c \"from pathlib import Path;print((Path('src')/'main.py').read_text()[:200])\"",
        "python3 -c \"import csv;print(','.join(next(csv.reader(open('a.csv')))))\"",
        "python3 -c \"print('v' + open('VERSION').read())\"",
        "python3 -c \"import urllib.request as u;print(u.urlopen('https://example.com/' + 'x').read())\"",
        "python3 -c \"import glob;[print(f, open(f).read().count('TODO')) for f in glob.glob('src/**/*.py')]\"",
        "node -e \"const p=require('./package.json');console.log(p.name+'@'+p.version)\"",
        "perl -lane 'print \"$F[0]/$F[1]\"' data.txt",
        "awk -F, '{print $1 \"/\" $2}' data.csv",
        "ruby -e 'puts Dir.glob(\"**/*.rb\").map { |f| File.read(f).lines.count }.sum'",
    ],
)
def test_everyday_one_liners_stay_safe(command: str) -> None:
    assert judged(command)[0] == "safe", judged(command)


def test_a_long_program_full_of_joins_is_judged_quickly() -> None:
    # a script file of up to 64 KiB is judged as a one-liner is; each join's arguments are read from a short window
    st = State.start(posix_context(), "python3 big.py")
    start = time.perf_counter()
    judge_code("python", "import os\n" + "print(os.path.join(" * 12000, st, "python3 big.py")
    assert time.perf_counter() - start < 1
    assert st.found.level == SAFE  # it opens nothing


@pytest.mark.parametrize("command", HOME_BUILT + LITERALS_JOINED)
def test_the_qa_reports_reproduce_through_contop_classify(command: str, tmp_path: Path) -> None:
    # run from a project folder: from the home folder itself, the bare '.ssh' of a join is judged as ./.ssh
    project = tmp_path / "proj"
    project.mkdir()
    env = dict(os.environ, HOME=str(tmp_path), CONTOP_HOME=str(tmp_path / ".contop"))
    done = subprocess.run(
        [sys.executable, "-m", "contop.cli.classify", "--json", command],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=30,
        check=True,
    )
    answer = json.loads(done.stdout)
    assert answer["decision"] == ("confirm" if command in HOME_BUILT else "block"), answer


def test_a_script_on_disk_asks_only_for_paths_built_from_the_home_folder(tmp_path: Path) -> None:
    """A project's own scripts join paths from names they find (os.walk, listdir) all the time: run from disk, only
    a path built from the home folder asks. The same join in a one-liner asks."""
    from dataclasses import replace

    walk = "import os\nfor f in os.listdir('src'):\n    print(open(os.path.join('src', f)).read())\n"
    (tmp_path / "gen.py").write_text(walk)
    (tmp_path / "keys.py").write_text("import pathlib\nprint((pathlib.Path.home() / '.ssh' / 'id_rsa').read_text())\n")
    ctx = replace(posix_context(), cwd=str(tmp_path))
    assert classify_command("python3 gen.py", ctx).verdict == "safe"
    assert classify_command("python3 keys.py", ctx).verdict == "confirm"
    assert classify_command(f"python3 -c {json.dumps(walk)}", ctx).verdict == "confirm"
