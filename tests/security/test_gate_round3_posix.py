"""Round 3 of the gate's POSIX fixes: GNU parallel and rush run their arguments as xargs does; awk and ed read
programs the line writes into them; the folder moves where the gate cannot follow (a DEBUG or ERR trap, an alias,
a function named cd); one-liners that change folder before a relative read. Classified only, never run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from contop.core.defaults import default_restricted_paths
from contop.security.decision import GateContext
from contop.security.gate import classify_command
from tests.security.corpus_support import posix_context


@pytest.fixture
def ctx(tmp_path: Path) -> GateContext:
    """A home with secrets and a login file, and the project the agent works in."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("KEY\n")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("x\n")
    (home / ".bashrc").write_text("# rc\n")
    (home / "proj" / "src").mkdir(parents=True)
    (home / "proj" / "src" / "main.py").write_text("print('hi')\n")
    state = str(home / ".contop")
    return replace(posix_context(), home=str(home), cwd=str(home / "proj"), state_dir=state,
                   restricted_paths=tuple(default_restricted_paths(state)))  # fmt: skip


def verdict(command: str, ctx: GateContext) -> str:
    return classify_command(command, ctx).verdict


NOT_SAFE = [
    # 1. parallel and rush
    "echo 'cat ../.ssh/id_rsa' | parallel",
    "echo ../.ssh/id_rsa | parallel cat",
    "find ~ -type f | parallel cat",
    "find ~ | rush cat",
    "parallel ::: 'cat /etc/shadow'",
    "echo 'cat /etc/shadow' | parallel -j1 sh -c",
    "cd ~; echo .ssh/id_rsa | parallel cat",
    "parallel -S host cat ::: x",
    "parallel -a list cat",
    "parallel cat :::: list",
    # 2. awk programs and ed scripts the line feeds in
    "awk -f /dev/stdin <<< 'BEGIN{while((getline l<\"../.ssh/id_rsa\")>0)print l}'",
    "gawk -f /dev/stdin <<< 'BEGIN{system(\"cat /etc/shadow\")}'",
    "echo 'BEGIN{system(\"cat /etc/shadow\")}' | awk -f -",
    "awk -f <(echo 'BEGIN{system(\"cat /etc/shadow\")}')",
    "printf 'BEGIN{while((getline l<\"/etc/shadow\")>0)print l}' > p.awk; awk -f p.awk",
    "ed -s <<< $'r ../.ssh/id_rsa\\n,p'",
    "ed -s x <<< '!cat /etc/shadow'",
    "ed -s ~/.bashrc <<< $'a\\nx\\n.\\nw'",
    "printf 'a\\nx\\n.\\nw\\n' | ed -s ~/.bashrc",
    "printf 'r /etc/shadow\\n,p\\n' | ed -s",
    "ed -s notes.txt <<< 'w /etc/cron.d/x'",
    # 3. the folder moves out of sight
    "trap 'cd ~' DEBUG; cat .ssh/id_rsa",
    "trap 'cd ..' ERR; false; cat .aws/credentials",
    "shopt -s expand_aliases\nalias go='cd ~'\ngo\ncat .ssh/id_rsa",
    "cd(){ builtin cd ~; }; cd src; cat .ssh/id_rsa",
    "function cd { builtin cd ~; }; cd src; cat .ssh/id_rsa",
    "pushd(){ builtin cd ..; }; pushd src; cat .contop/admin-token",
    # 4. one-liners that change folder first
    "python3 -c \"import os;os.chdir('..');print(open('.ssh/id_rsa').read())\"",
    "node -e \"process.chdir('..');console.log(require('fs').readFileSync('.ssh/id_rsa','utf8'))\"",
    "perl -e 'chdir \"..\"; print `cat .ssh/id_rsa`'",
    "python3 -c \"import os;os.chdir('/etc');os.system('cat shadow')\"",
    "python3 -c \"import subprocess;subprocess.run(['cat','shadow'],cwd='/etc')\"",
    'ruby -e \'Dir.chdir("/etc"){puts File.read("shadow")}\'',
    'php -r \'chdir("/etc"); echo file_get_contents("shadow");\'',
    "python3 -c \"import os,sys;os.chdir(sys.argv[1]);print(open('x').read())\" /etc",
]

STAYS_SAFE = [
    "parallel gzip ::: *.log",
    "parallel echo ::: a b c",
    "seq 10 | parallel echo",
    "ls *.png | parallel convert {} {.}.jpg",
    "awk -F: '{print $1}' data.txt",
    "ed -s src/main.py <<< $',s/a/b/g\\nw'",
    "printf '%s\\n' ',s/foo/bar/g' w q | ed -s src/main.py",
    "trap 'echo done' RETURN; cat src/main.py",
    "trap 'echo failed' ERR; cat src/main.py",
    "alias ll='ls -la'",
    "f(){ echo hi; }; f; cat src/main.py",
    "python3 -c \"import os;os.chdir('src');print(open('main.py').read())\"",
    'python3 -c "import os;print(os.getcwd())"',
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("command", NOT_SAFE)
def test_is_not_safe(command: str, ctx: GateContext) -> None:
    assert verdict(command, ctx) != "safe"


@pytest.mark.timeout(30)
@pytest.mark.parametrize("command", STAYS_SAFE)
def test_everyday_stays_safe(command: str, ctx: GateContext) -> None:
    assert verdict(command, ctx) == "safe"


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "command",
    [
        "echo ../.ssh/id_rsa | parallel cat",
        "parallel ::: 'cat /etc/shadow'",
        "gawk -f /dev/stdin <<< 'BEGIN{system(\"cat /etc/shadow\")}'",
        "ed -s x <<< '!cat /etc/shadow'",
        "python3 -c \"import os;os.chdir('..');print(open('.ssh/id_rsa').read())\"",
        "python3 -c \"import subprocess;subprocess.run(['cat','shadow'],cwd='/etc')\"",
    ],
)
def test_a_protected_read_is_blocked(command: str, ctx: GateContext) -> None:
    assert verdict(command, ctx) == "block"


@pytest.mark.timeout(30)
def test_a_return_trap_leaves_the_folder_known(ctx: GateContext) -> None:
    """A RETURN trap runs when a function returns: the line's own cd is still followed."""
    assert verdict("trap 'cd /tmp' RETURN; cd ~; cat .ssh/id_rsa", ctx) == "block"
