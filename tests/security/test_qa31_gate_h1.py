"""QA 31 (H1): a mount makes a folder show another place, as a link does, so ``mount --bind ~ /tmp/m; cat
/tmp/m/.ssh/id_rsa`` is refused as the direct read is, and a mount of or over a protected place is judged as
reading or writing it; links made by a coprocess, by GNU parallel with ``:::`` groups or by rush, renamed by
``rename`` or ``mmv``, or made from an unknown output through xargs are followed; a link into a process's own folder
(``/proc/self/cwd``) is never resolved in the gate's process; and ``ln -f``/``cp -f`` onto a file that does not
exist no longer asks. Commands are only classified here, never run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from contop.security.gate import classify_command
from tests.security.corpus_support import posix_context

pytestmark = pytest.mark.timeout(60)


def judge(command: str, cwd: str = "") -> tuple[str, str]:
    ctx = replace(posix_context(), cwd=cwd) if cwd else posix_context()
    decision = classify_command(command, ctx)
    return decision.verdict, decision.reason


# ------------------------------------------------------------------------------------------- mounts


@pytest.mark.parametrize(
    "command",
    [
        "mount --bind / /tmp/r; echo x > /tmp/r/etc/hosts",
        "mount --rbind / /tmp/r",
        "mount -o bind / /tmp/r",
        "mount --bind ~ /tmp/m; cat /tmp/m/.ssh/id_rsa",
        "mount -B ~ /tmp/m",
        "mount --bind /tmp/x /etc",
        "mount -t tmpfs none /etc",
        "mount -t tmpfs tmpfs ~",
        "mount /dev/sda1 /tmp/m",
        "umount /",
        "umount /etc",
        "mount -t overlay overlay -o lowerdir=/etc,upperdir=/tmp/u,workdir=/tmp/w /tmp/m",
        "unshare -m sh -c 'mount --bind ~ /tmp/m; cat /tmp/m/.ssh/id_rsa'",
        "sudo mount --bind ~ /tmp/m",
        "systemd-mount /dev/sda1 /tmp/m",
        "bindfs ~ /tmp/m; cat /tmp/m/.ssh/id_rsa",
        "bindfs -u 0 / /tmp/m",
        "sshfs localhost:/ /tmp/m; cat /tmp/m/etc/shadow",
        "sshfs 127.0.0.1: /tmp/m",
    ],
)
def test_a_mount_of_or_over_a_protected_place_is_refused(command: str) -> None:
    assert judge(command)[0] == "block", command


@pytest.mark.parametrize(
    "command",
    [
        "mount /tmp/disk.img /tmp/m",
        "mount -t nfs server:/export /tmp/m",
        "mount --bind /tmp/a /tmp/m",
        "mount -a",
        "mount /mnt/usb",
        "umount /tmp/m",
        "umount /mnt/usb",
        "fusermount -u /tmp/m",
        "fusermount3 -u /tmp/m",
        "sshfs user@server:/data /tmp/m",
        "bindfs /tmp/a /tmp/m",
        "systemd-mount --umount /tmp/m",
        "mount --bind /tmp/f ~/.bashrc",  # as writing ~/.bashrc does
    ],
)
def test_any_other_mount_or_unmount_asks(command: str) -> None:
    assert judge(command)[0] == "confirm", command


@pytest.mark.parametrize(
    "command",
    [
        "sshfs server:/data /tmp/m; cat /tmp/m/notes.txt",  # what a remote folder holds is not known here
        "mount /tmp/disk.img /tmp/m; cat /tmp/m/x",
        "umount /tmp/m; cat /tmp/m/x",  # what was under the mount shows again
    ],
)
def test_a_path_through_a_mount_of_unknown_content_asks(command: str) -> None:
    assert judge(command)[0] == "confirm", command


@pytest.mark.parametrize(
    "command",
    ["mount", "mount -l", "mount -t ext4", "mount -l -t ext4", "mount -v", "findmnt", "systemd-mount --list",
     "df -h", "lsblk"],
)  # fmt: skip
def test_listing_the_mounts_stays_safe(command: str) -> None:
    assert judge(command)[0] == "safe", command


def test_the_direct_reads_are_refused() -> None:
    assert judge("cat ~/.ssh/id_rsa")[0] == "block"
    assert judge("fuse2fs /dev/sda1 /tmp/m")[0] == "block"


# ------------------------------------------------------------------------------ links run through other programs


@pytest.mark.parametrize(
    "command",
    [
        "coproc ln -s ~ /tmp/h; wait; cat /tmp/h/.ssh/id_rsa",
        "coproc X { ln -s ~ /tmp/h; }; wait; cat /tmp/h/.ssh/id_rsa",
        "coproc { ln -s ~ /tmp/h; }; wait; cat /tmp/h/.ssh/id_rsa",
        "parallel ln -s ::: ~ ::: /tmp/h; cat /tmp/h/.ssh/id_rsa",
        "parallel ln -s {1} {2} ::: ~ ::: /tmp/h; cat /tmp/h/.ssh/id_rsa",
        "parallel ln -s ::: ~ :::+ /tmp/h; cat /tmp/h/.ssh/id_rsa",
        "parallel ln -s {} /tmp/h ::: ~; cat /tmp/h/.ssh/id_rsa",
        "rush 'ln -s ~ /tmp/h' <<< x; cat /tmp/h/.ssh/id_rsa",
        "ln -s ~ /tmp/h; rename h g /tmp/h; cat /tmp/g/.ssh/id_rsa",
        "ln -s ~ /tmp/h; rename -v h g /tmp/h; cat /tmp/g/.ssh/id_rsa",
        "ln -s ~ /tmp/h; rename 's/h/g/' /tmp/h; cat /tmp/g/.ssh/id_rsa",
        "ln -s ~ /tmp/d/h; rename d e /tmp/d; cat /tmp/e/h/.ssh/id_rsa",
        "ln -s ~ /tmp/h; mmv /tmp/h /tmp/g; cat /tmp/g/.ssh/id_rsa",
        "echo ~ | xargs -I{} ln -s {} /tmp/h; cat /tmp/h/.ssh/id_rsa",  # a literal input is followed
        "ln -s /proc/self/cwd /tmp/pc; cd ~; cat /tmp/pc/.ssh/id_rsa",
        "ln -s /proc/thread-self/cwd /tmp/pc; cd ~; cat /tmp/pc/.ssh/id_rsa",
    ],
)
def test_links_made_through_other_programs_are_followed(command: str) -> None:
    assert judge(command)[0] == "block", command


@pytest.mark.parametrize(
    "command",
    [
        "ln -s ~ /tmp/h; rename 's/^(.)/g/' /tmp/h; cat /tmp/g/.ssh/id_rsa",  # a name not worked out here
        "ln -s ~ /tmp/h; mmv '/tmp/*' '/tmp/#1x'; cat /tmp/hx/.ssh/id_rsa",
        "ls -d /etc | xargs -I{} ln -s {} /tmp/e; echo x > /tmp/e/hosts",
        "ls -d ~ | xargs -I{} ln -s {} /tmp/h; cat /tmp/h/.ssh/id_rsa",
        "cat f | xargs ln -s -t /tmp; cat /tmp/x/.ssh/id_rsa",
    ],
)
def test_a_link_to_a_place_not_known_asks(command: str) -> None:
    assert judge(command)[0] == "confirm", command


@pytest.mark.parametrize(
    "command",
    [
        "parallel echo ::: a b ::: c d",
        "parallel gzip ::: a.txt b.txt",
        "rush 'echo {}' <<< x",
        "coproc sleep 1",
        "coproc X { sleep 1; }",
        "rename 's/\\.txt/.md/' *.txt",
        "rename .htm .html *.htm",
        "echo /tmp/a | xargs -I{} ln -s {} /tmp/h; cat /tmp/h/x",
        "cat /proc/self/status",
    ],
)
def test_everyday_lines_stay_safe(command: str) -> None:
    assert judge(command)[0] == "safe", command


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A real folder in /tmp holding ``pc`` (a link to /proc/self/cwd), ``chain`` (a link to that link) and a
    ``config.yml`` of its own."""
    with tempfile.TemporaryDirectory(dir="/tmp") as root:
        folder = Path(root)
        (folder / "pc").symlink_to("/proc/self/cwd")
        (folder / "chain").symlink_to(folder / "pc")
        (folder / "config.yml").write_text("a: 1\n")
        yield folder


def test_a_link_on_disk_into_a_process_folder_is_not_resolved_in_the_gate(scratch: Path) -> None:
    # the gate's own folder is not the shell's: '/proc/self/cwd' is judged as the process folder it names
    assert os.getcwd() != "/home/u"
    assert judge(f"cd ~; cat {scratch}/pc/.ssh/id_rsa")[0] == "block"
    assert judge(f"cat {scratch}/chain/.ssh/id_rsa")[0] == "block"


# ------------------------------------------------------------------------------------ ln -f and cp -f


@pytest.mark.parametrize(
    "command",
    [
        "ln -sf /usr/bin/python3 /tmp/x/py",
        "ln -sfn ../shared/config.yml brand_new.yml",
        "cp -f a /tmp/x/nonexist",
        "ln -f a new_name",
    ],
)
def test_forcing_onto_a_file_that_does_not_exist_is_safe(command: str, scratch: Path) -> None:
    assert judge(command, str(scratch)) == ("safe", f"nothing dangerous found ({command})")


@pytest.mark.parametrize(
    "command",
    [
        "ln -sf ../shared/config.yml config.yml",  # an existing file
        "cp -f a config.yml",
        "ln -sf a b; ln -sf c b",  # made earlier on the line
        "echo x > n.yml; cp -f a n.yml",
        "ln -sf x /tmp/*",
        "ln -sf a $TARGET",
    ],
)
def test_forcing_onto_an_existing_file_still_asks(command: str, scratch: Path) -> None:
    assert judge(command, str(scratch))[0] == "confirm", command
