"""The rules for the programs that mount and unmount file systems (mount, umount, bindfs, sshfs, systemd-mount,
fusermount and FUSE mounters): a mount makes a folder show another place, as a link does, so what the line later
reads or writes in it is judged where it leads (``State.links``), and a mount of a protected place (the root, the
home folder, a raw disk) or over one (``/etc``, ``~/.bashrc``) is judged as reading or writing it would be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from contop.security.cmdbase import (
    MOUNTERS,
    RAW_DEVICE_READ,
    Invocation,
    Rule,
    _store_link,
    judge_write_target,
    names_raw_device,
)
from contop.security.findings import BLOCK, CONFIRM
from contop.security.paths import Place
from contop.security.state import LINK_SOMEWHERE, State

MOUNTS = "mounts a file system, which changes what the paths in a folder lead to"
UNMOUNTS = "unmounts a file system, which changes what the paths in a folder lead to"

# mount(8)'s options that take a value (as the next word, or joined: '-text4', '--types=ext4').
_MOUNT_VALUED = frozenset({"-t", "--types", "-o", "--options", "-O", "--test-opts", "-L", "--label", "-U", "--uuid",
                           "-T", "--fstab", "-N", "--namespace", "--source", "--target", "--target-prefix",
                           "--options-mode", "--options-source", "--map-users", "--map-groups"})  # fmt: skip
# Options that make mount mount something even with no operand ('mount -a', 'mount -L root').
_MOUNT_ACTS = frozenset({"-a", "--all", "-L", "--label", "-U", "--uuid", "--source", "--target"})
_BIND = frozenset({"-B", "--bind", "-R", "--rbind"})
_LOCAL_HOSTS = re.compile(r"^(?:[^@]*@)?(?:localhost|127\.[\d.]+|\[?::1\]?|0\.0\.0\.0|0)$", re.IGNORECASE)
# The short options with a value of bindfs, sshfs and the other FUSE mounters (each takes SOURCE MOUNTPOINT).
_FUSE_VALUED = frozenset({"-o", "-u", "-g", "-p", "-m", "-M", "-F", "-c"})


@dataclass(slots=True)
class Mount:
    """What a mounting program was given: the places it shows (``sources``, each a local path), where
    (``target``; None when mount reads it from fstab or it only lists), and whether the folder then shows exactly
    one of those places (a bind mount) rather than content not known in advance (a disk, a remote, an overlay)."""

    acts: bool
    sources: list[str] = field(default_factory=list)
    target: str | None = None
    bind: bool = False
    unmount: bool = False


def _parse(args: list[str], valued: frozenset[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The options (each with its value, '' for none) and the operands, as getopt reads them."""
    options: list[tuple[str, str]] = []
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            operands += args[i + 1 :]
            break
        if not arg.startswith("-") or arg == "-":
            operands.append(arg)
        elif arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if not eq and name in valued and i + 1 < len(args):
                i += 1
                value = args[i]
            options.append((name, value))
        else:
            letters = arg[1:]
            for j, letter in enumerate(letters):
                name = "-" + letter
                if name in valued:
                    value = letters[j + 1 :]
                    if not value and i + 1 < len(args):
                        i += 1
                        value = args[i]
                    options.append((name, value))
                    break
                options.append((name, ""))
        i += 1
    return options, operands


def _option_values(options: list[tuple[str, str]], *names: str) -> list[str]:
    return [value for name, value in options if name in names]


def mount_line(inv: Invocation) -> Mount:
    """What a program of ``MOUNTERS`` mounts or unmounts; ``acts`` is False when it only lists the mounts
    (``mount``, ``mount -l``, ``mount -t ext4``, ``systemd-mount --list``)."""
    name, args = inv.name, inv.args
    if name == "mount":
        options, operands = _parse(args, _MOUNT_VALUED)
        names = {n for n, _ in options}
        mount_opts = ",".join(_option_values(options, "-o", "--options")).split(",")
        bind = bool(names & _BIND) or any(o in ("bind", "rbind") for o in mount_opts)
        if not operands and not names & _MOUNT_ACTS:
            return Mount(acts=False)
        sources = operands[:-1] if len(operands) > 1 else []
        sources += _option_values(options, "--source")
        # an overlay shows its lower and upper folders ('-o lowerdir=/etc,upperdir=…')
        for opt in mount_opts:
            key, _, value = opt.partition("=")
            if key in ("lowerdir", "upperdir") and value:
                sources += [part for part in value.split(":") if part]
        target = next(iter(_option_values(options, "--target")), operands[-1] if operands else None)
        if len(operands) == 1 and not names & {"--source", "--target"}:
            # 'mount /mnt/usb' or 'mount /dev/sdb1': the other half is read from fstab
            device = operands[0].startswith("/dev/") or "=" in operands[0] or ":" in operands[0]
            target = None if device else operands[0]
            sources = [operands[0]] if device else []
        return Mount(acts=True, sources=sources, target=target, bind=bind and len(sources) == 1)
    if name == "umount":
        options, operands = _parse(args, frozenset({"-t", "--types", "-O", "--test-opts", "-N", "--namespace"}))
        return Mount(acts=True, target=operands[-1] if operands else None, unmount=True)
    if name == "systemd-mount":
        options, operands = _parse(args, frozenset({"-t", "--type", "-o", "--options", "-p", "--property", "-H",
                                                    "--host", "-M", "--machine", "--description",
                                                    "--fsck", "--timeout-idle-sec", "--discover"}))  # fmt: skip
        names = {n for n, _ in options}
        if names & {"--list", "-l"} and not operands:
            return Mount(acts=False)
        if names & {"-u", "--umount"}:
            return Mount(acts=True, target=operands[-1] if operands else None, unmount=True)
        return Mount(acts=True, sources=operands[:1], target=operands[1] if len(operands) > 1 else None)
    if name == "fusermount" or name == "fusermount3":
        options, operands = _parse(args, frozenset({"-o"}))
        unmount = any(n in ("-u", "-z") for n, _ in options)
        return Mount(acts=True, target=operands[-1] if operands else None, unmount=unmount)
    options, operands = _parse(args, _FUSE_VALUED)
    if len(operands) < 2:
        return Mount(acts=bool(operands), target=operands[-1] if operands else None)
    sources, target = operands[:-1], operands[-1]
    if name == "sshfs":
        # a remote folder is content not known, unless the remote is this computer ('localhost:/')
        host, colon, path = sources[0].partition(":")
        if not colon or not _LOCAL_HOSTS.match(host):
            return Mount(acts=True, target=target)
        return Mount(acts=True, sources=[path or "~"], target=target, bind=True)
    return Mount(acts=True, sources=sources, target=target, bind=name == "bindfs" and len(sources) == 1)


def _mount(inv: Invocation, st: State) -> None:
    """``mount --bind ~ /tmp/m``, ``sshfs localhost:/ /tmp/m``, ``mount -t tmpfs none /etc``: asks at least,
    blocks when it shows a protected place elsewhere or covers one, and makes the folder it mounts on lead where
    the mount leads, for what the line does in it later."""
    line = mount_line(inv)
    if not line.acts:
        return
    if st.windows:
        st.add(CONFIRM, UNMOUNTS if line.unmount else MOUNTS, inv.text)
        return
    for source in line.sources:
        if names_raw_device(source, st):
            st.add(BLOCK, RAW_DEVICE_READ, inv.text)
        if "$" in source or st.in_unknown_folder(source):
            continue
        hit = st.restricted(source) or st.restricted_inside(source)
        if hit is not None:
            st.add(BLOCK, f"mounts a folder holding the protected {hit} where it can be read elsewhere", inv.text)
    target = line.target
    if target is not None:
        hit = st.restricted(target) or st.restricted_inside(target)
        if hit is not None or st.place(target) >= Place.HOME:
            what = "unmounts" if line.unmount else "mounts over"
            where = f"a folder holding the protected {hit}" if hit else "a system folder or your home directory"
            st.add(BLOCK, f"{what} {where}, which replaces what is there", inv.text)
        if not line.unmount:
            judge_write_target(target, False, inv, st, guess_existing=False)  # over /etc/hosts, ~/.bashrc
    st.add(CONFIRM, UNMOUNTS if line.unmount else MOUNTS, inv.text)
    if target is None or "$" in target:
        st.links[LINK_SOMEWHERE] = None  # a folder not known now shows something else: any path may go there
        return
    shown = line.sources[0] if line.bind and line.sources else None
    leads = None if shown is None or "$" in shown else st.policy.expand(st.with_tmpdir(shown), st.cwd)
    _store_link(target.rstrip("/") or "/", leads, st)


def mount_target(inv: Invocation) -> str | None:
    """The folder a mounting program's own mount lands on (for ``own_links``): ``$WHERE`` when that is not known
    (a mount that reads it from fstab), None when it mounts nothing."""
    line = mount_line(inv)
    if not line.acts:
        return None
    return line.target if line.target is not None else "$WHERE"


RULES: dict[str, Rule] = dict.fromkeys(MOUNTERS, _mount)
