"""What one program invocation does, judged from its name and arguments (shared by all three shells).

Each rule looks at an ``Invocation`` whose prefixes (sudo, env, xargs…) are already stripped, and records
findings on the ``State``. Programs without a rule are ordinary (safe) unless their arguments touch a
restricted path, which the caller checks.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from contop.security.findings import BLOCK, CONFIRM
from contop.security.keywords import Keywords
from contop.security.paths import Place, other_state_dir
from contop.security.state import State


@dataclass(slots=True)
class Invocation:
    name: str  # normalised: basename, lower case, no .exe, no version suffix
    args: list[str]
    text: str
    via_xargs: bool = False


Rule = Callable[[Invocation, State], None]

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "fish", "ash", "mksh", "csh", "tcsh", "busybox-sh"})
INTERPRETERS = frozenset({"python", "perl", "ruby", "node", "nodejs", "php", "deno", "bun", "lua", "osascript"})
FETCHERS = frozenset({"curl", "wget", "fetch", "lwp-request", "http", "https", "aria2c", "xh", "curlie"})
NET_SENDERS = frozenset(
    {"nc", "ncat", "netcat", "socat", "telnet", "ssh", "scp", "sftp", "ftp", "tftp", "curl", "wget", "openssl",
     "rsync", "rclone", "aws", "gsutil", "az", "smbclient", "mail", "sendmail", "mutt", "xh", "http", "https"}
)  # fmt: skip
ENV_SOURCES = frozenset({"env", "printenv", "set", "export", "declare", "compgen"})
ARCHIVERS = frozenset({"tar", "zip", "7z", "7za", "cpio", "rar", "gzip", "bzip2", "xz", "cat", "base64", "dd"})
DRY_RUN = frozenset({"--dry-run", "--dryrun", "--simulate", "-whatif", "--what-if", "--dry-run=client",
                     "--dry-run=server", "--no-act", "--just-print", "--check"})  # fmt: skip
SECURITY_SERVICES = re.compile(
    r"^(firewalld|ufw|iptables|ip6tables|nftables|auditd|apparmor|selinux|fail2ban|clamav\S*|crowdstrike\S*|"
    r"falcon-sensor|osqueryd|wazuh\S*|ossec\S*|sysmon\S*|windefend|mpssvc|sense|wdnissvc|eventlog|"
    r"rsyslog|syslog|systemd-journald|journald|sshguard)(\.service)?$",
    re.IGNORECASE,
)
HISTORY_FILE = re.compile(
    r"(^|[/\\])\.(bash_|zsh_|sh_|python_|node_|mysql_|psql_|)history$|consolehost_history\.txt$", re.IGNORECASE
)
PERSISTENCE_PATH = Keywords(
    r"(^|/)\.(bashrc|bash_profile|bash_login|profile|zshrc|zprofile|zshenv|zlogin|kshrc|cshrc|tcshrc)$|"
    r"/\.config/fish/config\.fish$|^/etc/(profile|bash\.bashrc|rc\.local|environment|ld\.so\.preload)$|"
    r"^/etc/(profile\.d|cron\.[a-z]+|crontab|init\.d|systemd|xdg/autostart|update-motd\.d)(/|$)|"
    r"^/var/spool/cron|/\.config/(autostart|systemd/user)(/|$)|^/(usr/)?lib/systemd/|"
    r"/Library/(LaunchAgents|LaunchDaemons)(/|$)|/\.ssh/(authorized_keys2?|rc)$|"
    r"\\start menu\\programs\\startup(\\|$)|\\startup\\",
    re.IGNORECASE,
)
SUSPICIOUS_PAYLOAD = Keywords(
    r"\b(curl|wget|nc|ncat|netcat|socat|base64|certutil|bitsadmin|mshta|iwr|irm|iex|"
    r"invoke-webrequest|invoke-restmethod|invoke-expression|downloadstring|downloadfile|frombase64string|"
    r"encodedcommand|enc|hidden)\b|/dev/tcp/|bash\s+-i|python[0-9.]*\s+-c|perl\s+-e|/(tmp|dev/shm|var/tmp)/\.",
    re.IGNORECASE,
)
DEFENDER_OFF = Keywords(
    r"disableantispyware|disablerealtimemonitoring|disablebehaviormonitoring|disableioavprotection|"
    r"disableantivirus|tamperprotection|disablescriptscanning|enablelua",
    re.IGNORECASE,
)
CRITICAL_FILES = re.compile(
    r"^/etc/(passwd|shadow|group|gshadow|sudoers|fstab|hosts|resolv\.conf|ld\.so\.preload|pam\.d/.*|"
    r"sudoers\.d/.*|ssh/sshd_config|crypttab|default/grub)$|^/proc/(sysrq-trigger|sys/)|^/boot/|^/(usr/)?s?bin/|^/(usr/)?lib(32|64)?/|"
    r"^/var/log/|^/System/|^c:\\windows\\",
    re.IGNORECASE,
)
_TEMP_PREFIXES = ("/tmp/", "$TMPDIR", "%TEMP%")  # noqa: S108 - a judgement about paths, not a temp file
_HARMLESS_DEVICES = re.compile(r"^/dev/(null|zero|stdout|stderr|stdin|tty|fd/\d+|full|random|urandom)$")
_NEW_LOOKING = re.compile(
    r"(^|[/\\])[^/\\.]*$|\.(txt|log|out|tmp|csv|tsv|json|html|xml|png|jpg|gz|zip|tar|md|bak|diff|patch|dump)$|"
    r"^/tmp/|^(out|output|result|results|report|build|dist)[^/\\]*$",
    re.IGNORECASE,
)
_EXISTING_LOOKING = re.compile(
    r"(^|[/\\])\.[^/\\]+$|\.(py|js|ts|tsx|jsx|go|rs|c|h|cpp|hpp|java|kt|rb|php|sh|ps1|bat|cmd|toml|ya?ml|ini|cfg|"
    r"conf|lock|env|sql|db|sqlite|gradle|xml|csproj|sln|pem|key)$|(^|[/\\])(Makefile|Dockerfile|README[^/\\]*|"
    r"LICENSE|requirements\.txt|package\.json|pyproject\.toml|Cargo\.toml|go\.mod|\.gitignore)$",
    re.IGNORECASE,
)


_VERSIONED = re.compile(r"^(python|pip|perl|ruby|php|node|pydoc)[0-9.]*(w)?$")  # python3.11w -> python


@lru_cache(maxsize=8192)
def normalise(word: str) -> str:
    """``/usr/bin/Python3.11`` → ``python``; ``C:\\Windows\\rm.EXE`` → ``rm``; ``\\rm`` → ``rm``."""
    name = word.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for suffix in (".exe", ".com", ".bat", ".cmd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    name = _VERSIONED.sub(r"\1", name)
    if name.startswith(("mkfs.", "mkfs_", "fsck.")):
        name = name.split(".", 1)[0].split("_", 1)[0]
    return name


def split_opts(args: list[str]) -> tuple[list[str], list[str]]:
    opts: list[str] = []
    operands: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            operands.extend(args[i + 1 :])
            break
        (opts if arg.startswith("-") and arg != "-" else operands).append(arg)
    return opts, operands


def has_flag(opts: list[str], short: str, *long: str) -> bool:
    """A short flag alone or combined (``-rf``), or any of the long spellings."""
    for opt in opts:
        if opt in long or opt.split("=", 1)[0] in long:
            return True
        if short and len(opt) > 1 and opt[0] == "-" and opt[1] != "-" and any(c in opt[1:] for c in short):
            return True
    return False


def is_dry_run(args: list[str]) -> bool:
    return any(a.lower() in DRY_RUN for a in args)


_PLACE_WORDS = {
    Place.DEVICE: "destroys a disk or device",
    Place.SYSTEM_TREE: "destroys a system folder or a whole drive",
    Place.HOME: "destroys your home directory",
    Place.SYSTEM_FILE: "deletes operating system files",
}


def worst_place(targets: list[str], st: State) -> int:
    return max((st.place(t) for t in targets), default=Place.ORDINARY)


_DRIVE_ROOT = re.compile(r"[A-Za-z]:[\\/]?\*?")
_SYSTEM_LOG = re.compile(r"(^|[/\\])var[/\\]log|\.evtx$", re.IGNORECASE)
NET_DEVICE = re.compile(r"/dev/(tcp|udp)/")  # bash's network redirections


def judge_deletion(targets: list[str], recursive: bool, inv: Invocation, st: State, verb: str = "deletes") -> None:
    """The common core of rm, del, rd, Remove-Item: catastrophic places block, anything else asks."""
    worst = worst_place(targets, st)
    if any(t.rstrip("/\\") in ("", "/") or _DRIVE_ROOT.fullmatch(t) for t in targets if t):
        st.add(BLOCK, "destroys the whole file system or drive", inv.text)
    if worst > Place.ORDINARY:
        st.add(BLOCK, _PLACE_WORDS[worst], inv.text)
    if any(HISTORY_FILE.search(t) for t in targets):
        st.add(BLOCK, "erases shell history", inv.text)
    if any(_SYSTEM_LOG.search(t) for t in targets):
        st.add(BLOCK, "erases system logs", inv.text)
    what = f"{verb} files recursively" if recursive else f"{verb} files"
    st.add(CONFIRM, what, inv.text)


# ------------------------------------------------------------------------------------------- file system


def _rm(inv: Invocation, st: State) -> None:
    opts, targets = split_opts(inv.args)
    if "--no-preserve-root" in opts:
        st.add(BLOCK, "destroys the whole file system", inv.text)
    if inv.name == "unlink" or inv.name == "rmdir":
        judge_deletion(targets, False, inv, st)
        return
    judge_deletion(targets, has_flag(opts, "rR", "--recursive"), inv, st)


def _shred(inv: Invocation, st: State) -> None:
    _, targets = split_opts(inv.args)
    judge_deletion(targets, False, inv, st, verb="irrecoverably overwrites")


def _find(inv: Invocation, st: State) -> None:
    args = inv.args
    roots = []
    for arg in args:
        if arg.startswith(("-", "(", "!")):
            break
        roots.append(arg)
    lowered = [a.lower() for a in args]
    for i, arg in enumerate(lowered):
        if arg in ("-exec", "-execdir", "-ok", "-okdir"):
            end = next((j for j in range(i + 1, len(args)) if args[j] in (";", "+", "\\;")), len(args))
            inner = [a for a in args[i + 1 : end] if a != "{}"] + roots
            if inner:
                from contop.security.posix import judge_words

                name = judge_words(inner, st, inv.text)
                if name not in METADATA_READERS:  # 'find ~ -size +1G -exec ls -lh {} +' reads no file's content
                    reads_whole_tree(roots or ["."], inv, st)
    if "-delete" in lowered:
        if any(a in _FIND_NARROWING for a in lowered):
            # only what matches: '~/… -name "*.tmp" -delete' is not the home folder's destruction
            targets = roots or ["."]
            if any(t.rstrip("/\\") in ("", "/") for t in targets):
                st.add(BLOCK, "destroys the whole file system or drive", inv.text)
            st.add(CONFIRM, f"deletes the files it finds under {' '.join(targets)}", inv.text)
        else:
            judge_deletion(roots or ["."], True, inv, st)


# What only reads names, sizes and dates; find's tests that pick some files rather than all of them.
METADATA_READERS = frozenset({"ls", "du", "stat", "echo", "printf", "basename", "dirname", "realpath", "readlink",
                              "test", "[", "true", "printenv"})  # fmt: skip
_FIND_NARROWING = frozenset({"-name", "-iname", "-path", "-ipath", "-wholename", "-regex", "-iregex", "-empty",
                             "-size", "-mtime", "-mmin", "-atime", "-amin", "-ctime", "-cmin", "-newer", "-user",
                             "-group", "-perm", "-links", "-inum", "-samefile"})  # fmt: skip


def _mv(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    worst = worst_place(operands, st)
    if worst >= Place.SYSTEM_FILE:
        st.add(BLOCK, "moves system files or your home directory away", inv.text)
    if operands and re.match(r"^/dev/null$", operands[-1]):
        st.add(BLOCK if worst else CONFIRM, "moves files into /dev/null", inv.text)
    st.add(CONFIRM, "moves or renames files", inv.text)


def _cp(inv: Invocation, st: State) -> None:
    opts, operands = split_opts(inv.args)
    if operands:
        dest = operands[-1]
        if st.place(dest) == Place.DEVICE:
            st.add(BLOCK, "writes over a disk or device", inv.text)
        if CRITICAL_FILES.search(st.policy.expand(dest, st.cwd)):
            st.add(BLOCK, "overwrites operating system files", inv.text)
        persistence_write(dest, inv, st)
    if has_flag(opts, "f" if inv.name == "cp" else "", "--force", "--remove-destination"):
        st.add(CONFIRM, "copies over existing files", inv.text)
    if inv.name == "cp" and has_flag(opts, "rRa", "--recursive", "--archive"):
        reads_whole_tree(operands[:-1], inv, st)


def _ln(inv: Invocation, st: State) -> None:
    opts, operands = split_opts(inv.args)
    if operands and any(HISTORY_FILE.search(o) for o in operands) and "/dev/null" in operands:
        st.add(BLOCK, "disables shell history", inv.text)
    if operands and CRITICAL_FILES.search(st.policy.expand(operands[-1], st.cwd)):
        st.add(BLOCK, "replaces operating system files", inv.text)
    if has_flag(opts, "f", "--force"):
        st.add(CONFIRM, "replaces existing files with links", inv.text)


def _chmod(inv: Invocation, st: State) -> None:
    opts, operands = split_opts(inv.args)
    recursive = has_flag(opts, "R", "--recursive")
    targets = operands[1:]
    worst = worst_place(targets, st)
    if recursive and worst >= Place.SYSTEM_FILE:
        st.add(BLOCK, "changes permissions or owners of a whole system tree", inv.text)
    if inv.name == "chmod" and operands and re.search(r"[ugoa]*\+[rwx]*s|^[2-7][0-7]{3}$", operands[0]):
        st.add(BLOCK, "makes a program run with its owner's rights for everyone (setuid)", inv.text)
    if worst >= Place.SYSTEM_FILE:
        st.add(CONFIRM, "changes permissions of system files", inv.text)
    if recursive and worst == Place.HOME:
        st.add(BLOCK, "changes permissions of your whole home directory", inv.text)


def _dd(inv: Invocation, st: State) -> None:
    for arg in inv.args:
        if arg.startswith("of="):
            target = arg[3:]
            if st.place(target) == Place.DEVICE:
                st.add(BLOCK, "writes raw data over a disk", inv.text)
            elif CRITICAL_FILES.search(st.policy.expand(target, st.cwd)):
                st.add(BLOCK, "overwrites operating system files", inv.text)
            st.add(CONFIRM, "writes raw data with dd", inv.text)


def _disk_tool(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    if inv.name in ("fdisk", "sfdisk", "parted", "gdisk", "sgdisk", "blkid", "lsblk") and (
        any(a in ("-l", "--list", "print", "-p", "--print") for a in lowered) or not inv.args
    ):
        return
    if inv.name == "mkswap" and not any(st.place(a) == Place.DEVICE for a in inv.args):
        st.add(CONFIRM, "formats a swap file", inv.text)
        return
    if inv.name == "mkfs" and inv.args and not any(st.place(a) == Place.DEVICE for a in inv.args):
        st.add(CONFIRM, "creates a file system in a file", inv.text)
        return
    st.add(BLOCK, f"erases or repartitions a disk ({inv.name})", inv.text)


def _truncate(inv: Invocation, st: State) -> None:
    _opts, targets = split_opts(inv.args)
    if any(re.search(r"/var/log/", st.policy.expand(t, st.cwd)) for t in targets):
        st.add(BLOCK, "erases system logs", inv.text)
    if any(HISTORY_FILE.search(t) for t in targets):
        st.add(BLOCK, "erases shell history", inv.text)
    st.add(CONFIRM, "empties or shrinks files", inv.text)


def _sed(inv: Invocation, st: State) -> None:
    opts, _ = split_opts(inv.args)
    in_place = any(o.startswith(("-i", "--in-place")) or (o.startswith("-") and "i" in o[1:3]) for o in opts)
    if inv.name == "perl":
        return
    if not in_place:
        return
    files = _sed_files(inv.args)
    for f in files:
        if persistence_write(f, inv, st):
            continue
        if CRITICAL_FILES.search(st.policy.expand(f, st.cwd)):
            st.add(BLOCK, "rewrites operating system files", inv.text)
        elif st.policy.expand(f, st.cwd).startswith("/etc/"):
            st.add(CONFIRM, "edits system configuration", inv.text)
    if len(files) > 1 or any(re.search(r"[*?\[]", f) for f in files) or inv.via_xargs:
        st.add(CONFIRM, "edits many files in place", inv.text)


def _sed_files(args: list[str]) -> list[str]:
    """The files ``sed`` edits: its operands, less the script (the first operand, unless -e/-f gave it) and the
    values of -e/-f/--expression/--file."""
    files: list[str] = []
    scripted = False
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--":
            files += args[i + 1 :]
            break
        if arg in ("-e", "-f", "--expression", "--file", "-l", "--line-length"):
            scripted = scripted or arg in ("-e", "-f", "--expression", "--file")
            skip = True
        elif arg.startswith(("--expression=", "--file=")) or (re.fullmatch(r"-[a-zA-Z]*[ef]", arg) is not None):
            scripted = True
            skip = not arg.startswith("--")
        elif arg.startswith("-") and arg != "-":
            continue
        else:
            files.append(arg)
    return files if scripted else files[1:]


def _tee(inv: Invocation, st: State) -> None:
    opts, files = split_opts(inv.args)
    append = has_flag(opts, "a", "--append")
    for f in files:
        judge_write_target(f, append, inv, st)


# ------------------------------------------------------------------------------------------- writes


def persistence_write(target: str, inv: Invocation, st: State) -> bool:
    path = st.policy.expand(target, st.cwd)
    if not PERSISTENCE_PATH.search(path) and not PERSISTENCE_PATH.search(target):
        return False
    if SUSPICIOUS_PAYLOAD.search(st.source):
        st.add(BLOCK, "installs a hidden or downloaded program to start automatically", inv.text)
    st.add(CONFIRM, "changes what runs automatically at login or boot", inv.text)
    return True


def judge_write_target(target: str, append: bool, inv: Invocation, st: State, *, guess_existing: bool = True) -> None:
    """A file written by ``>``, ``>>``, tee, Out-File…: devices and system files are serious. ``guess_existing``
    also asks before writing over what looks like an existing file (not for a download's output: saving one
    under a name of its own is what it is for)."""
    if not target or target.startswith("&") or _HARMLESS_DEVICES.match(target) or target.lower() in ("nul", "$null"):
        return
    if NET_DEVICE.match(target):
        st.add(BLOCK, "opens a raw network connection from the shell", inv.text)
        return
    place = st.place(target)
    path = st.policy.expand(target, st.cwd)
    if place == Place.DEVICE:
        st.add(BLOCK, "writes over a disk or device", inv.text)
    if place >= Place.HOME:
        st.add(BLOCK, "overwrites a system folder or your home directory", inv.text)
    if HISTORY_FILE.search(path) and not append:
        st.add(BLOCK, "erases shell history", inv.text)
    critical = CRITICAL_FILES.search(path) is not None
    never_appended = re.search(r"sudoers|ld\.so\.preload|passwd|shadow|/s?bin/", path) is not None
    if critical and (not append or never_appended):  # before the login-file rule: /etc/ld.so.preload is both
        st.add(BLOCK, "overwrites operating system files", inv.text)
    if persistence_write(target, inv, st):
        return
    if critical:
        if append and not never_appended:
            st.add(CONFIRM, "appends to a system file", inv.text)
        else:
            st.add(BLOCK, "overwrites operating system files", inv.text)
    elif place == Place.SYSTEM_FILE or path.startswith(("/etc/", "/usr/", "/opt/")):
        st.add(CONFIRM, "writes into a system folder", inv.text)
    if guess_existing and not append and not target.startswith(_TEMP_PREFIXES) and _overwrites(target, path, st):
        st.add(CONFIRM, "overwrites an existing file", inv.text)


def _overwrites(target: str, path: str, st: State) -> bool:
    """Whether ``> target`` replaces a file worth keeping: one whose name says source or configuration, and that
    exists, when this decision may look at the disk (a new ``script.py`` is not asked about; a log never is)."""
    if _EXISTING_LOOKING.search(target) is None:
        return False
    if st.resolve is not None and not st.windows and "$" not in target and not target.startswith("&"):
        return os.path.lexists(path) and path not in st.written
    return True


# ------------------------------------------------------------------------------------------- processes, power


def _ps(inv: Invocation, st: State) -> None:
    """BSD-style ``ps e`` / ``ps eww`` prints every program's environment, the server's API keys included."""
    if any(not a.startswith("-") and "e" in a and a.isalpha() for a in inv.args):
        st.add(BLOCK, "shows other programs' environment variables, where API keys are kept", inv.text)


def _kill(inv: Invocation, st: State) -> None:
    if inv.args and inv.args[0] in ("-l", "-L", "--list"):
        return
    st.add(CONFIRM, "stops running programs", inv.text)


def _power(inv: Invocation, st: State) -> None:
    if inv.name == "init" and not any(a in ("0", "6", "1", "s", "S") for a in inv.args):
        return
    st.add(CONFIRM, "shuts down, restarts or logs off the computer", inv.text)


_SERVICE_CHANGES = frozenset(
    "stop disable mask kill restart try-restart reload-or-restart reset-failed unmask enable start reload link edit "
    "set-property revert preset".split()
)


def _systemctl(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    if not operands:
        return
    action = operands[0].lower()
    units = operands[1:]
    if action in ("poweroff", "reboot", "halt", "suspend", "hibernate", "hybrid-sleep", "kexec", "rescue",
                  "emergency", "isolate", "soft-reboot"):  # fmt: skip
        st.add(CONFIRM, "shuts down, restarts or suspends the computer", inv.text)
    elif action in _SERVICE_CHANGES:
        if action in ("stop", "disable", "mask", "kill") and any(SECURITY_SERVICES.match(u) for u in units):
            st.add(BLOCK, "turns off a security or logging service", inv.text)
        if action in ("enable", "link") and SUSPICIOUS_PAYLOAD.search(st.source):
            st.add(BLOCK, "installs a downloaded program as a service", inv.text)
        st.add(CONFIRM, f"changes system services ({action})", inv.text)


def _service(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    if len(operands) >= 2 and operands[1].lower() not in ("status",):
        if operands[1].lower() == "stop" and SECURITY_SERVICES.match(operands[0]):
            st.add(BLOCK, "turns off a security or logging service", inv.text)
        st.add(CONFIRM, "stops or restarts a system service", inv.text)


def _launchctl(inv: Invocation, st: State) -> None:
    if inv.args and inv.args[0].lower() in ("load", "bootstrap", "submit", "enable"):
        if SUSPICIOUS_PAYLOAD.search(st.source):
            st.add(BLOCK, "installs a downloaded program to start automatically", inv.text)
        st.add(CONFIRM, "changes what runs automatically", inv.text)
    elif inv.args and inv.args[0].lower() in ("unload", "bootout", "remove", "kill", "stop", "disable"):
        st.add(CONFIRM, "stops a system service", inv.text)


def _crontab(inv: Invocation, st: State) -> None:
    opts, _operands = split_opts(inv.args)
    if opts and all(o in ("-l", "-u") for o in opts) and "-l" in opts:
        return
    if "-r" in opts:
        st.add(CONFIRM, "removes all scheduled jobs", inv.text)
        return
    if SUSPICIOUS_PAYLOAD.search(st.source):
        st.add(BLOCK, "schedules a downloaded or hidden program to run repeatedly", inv.text)
    st.add(CONFIRM, "changes scheduled jobs", inv.text)


def _at(inv: Invocation, st: State) -> None:
    if (inv.args and inv.args[0] in ("-l", "-q")) or inv.name == "atq":
        return
    if SUSPICIOUS_PAYLOAD.search(st.source):
        st.add(BLOCK, "schedules a downloaded or hidden program", inv.text)
    st.add(CONFIRM, "schedules a command to run later", inv.text)


# ------------------------------------------------------------------------------------------- defence evasion


def _firewall(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    joined = " ".join(lowered)
    name = inv.name
    if name == "ufw":
        if "disable" in lowered or "reset" in lowered:
            st.add(BLOCK, "turns off the firewall", inv.text)
        elif lowered and lowered[0] not in ("status", "show", "app", "version", "--version", "help"):
            st.add(CONFIRM, "changes firewall rules", inv.text)
    elif name in ("iptables", "ip6tables", "iptables-legacy", "nft", "firewall-cmd"):
        if re.search(r"(^| )(-f|--flush|-x|flush ruleset|--panic-off)( |$)|-p (input|forward|output) accept", joined):
            st.add(BLOCK, "turns off the firewall", inv.text)
        elif not re.search(r"(^| )(-l|--list|-s|--list-rules|list|--state|--list-all)( |$)", joined):
            st.add(CONFIRM, "changes firewall rules", inv.text)
    elif name == "setenforce" and lowered and lowered[0] in ("0", "permissive"):
        st.add(BLOCK, "turns off SELinux", inv.text)
    elif name == "auditctl" and re.search(r"(^| )(-d|-e 0)( |$)|^-d", joined):
        st.add(BLOCK, "turns off system auditing", inv.text)
    elif (name == "csrutil" and "disable" in lowered) or (name == "spctl" and "--master-disable" in lowered):
        st.add(BLOCK, "turns off operating system protection", inv.text)
    elif name in ("aa-disable", "aa-teardown"):
        st.add(BLOCK, "turns off AppArmor", inv.text)


def _history(inv: Invocation, st: State) -> None:
    if any(a in ("-c", "-cw", "-wc") or a.startswith("-d") for a in inv.args):
        st.add(BLOCK, "erases shell history", inv.text)


def _journalctl(inv: Invocation, st: State) -> None:
    if any(a.startswith(("--vacuum", "--rotate", "--flush")) for a in inv.args):
        st.add(BLOCK, "erases system logs", inv.text)


def _unset(inv: Invocation, st: State) -> None:
    if any(a.upper() in ("HISTFILE", "HISTSIZE", "HISTFILESIZE") for a in inv.args):
        st.add(BLOCK, "turns off shell history", inv.text)


# ------------------------------------------------------------------------------------------- packages, vcs


_PKG_REMOVE = {
    "apt": ("remove", "purge", "autoremove", "autopurge"),
    "apt-get": ("remove", "purge", "autoremove", "autopurge"),
    "aptitude": ("remove", "purge"),
    "dpkg": ("-r", "-p", "--remove", "--purge", "-P"),
    "dnf": ("remove", "erase", "autoremove"),
    "yum": ("remove", "erase", "autoremove"),
    "zypper": ("remove", "rm"),
    "apk": ("del",),
    "pacman": ("-R", "-Rs", "-Rns", "-Rn", "-Rsc", "-Rdd", "--remove"),
    "brew": ("uninstall", "remove", "rm", "untap", "autoremove", "cleanup"),
    "pip": ("uninstall",),
    "pipx": ("uninstall", "uninstall-all"),
    "uv": ("remove",),
    "poetry": ("remove",),
    "npm": ("uninstall", "un", "remove", "rm", "r", "unlink", "prune"),
    "pnpm": ("remove", "rm", "uninstall", "un", "prune"),
    "yarn": ("remove",),
    "gem": ("uninstall", "cleanup"),
    "cargo": ("uninstall",),
    "conda": ("remove", "uninstall"),
    "snap": ("remove",),
    "flatpak": ("uninstall", "remove"),
    "winget": ("uninstall", "remove"),
    "choco": ("uninstall",),
    "scoop": ("uninstall",),
    "port": ("uninstall",),
    "rpm": ("-e", "--erase"),
}


def _package(inv: Invocation, st: State) -> None:
    verbs = _PKG_REMOVE[inv.name]
    if is_dry_run(inv.args) or ("-s" in inv.args and inv.name.startswith("apt")):
        return
    for arg in inv.args:
        if arg in verbs or (inv.name == "pacman" and re.match(r"^-R[a-z]*$", arg)):
            st.add(CONFIRM, "removes installed software", inv.text)
            return
        if inv.name == "conda" and arg == "env" and "remove" in inv.args:
            st.add(CONFIRM, "removes a conda environment", inv.text)
            return


def _git(inv: Invocation, st: State) -> None:
    args = inv.args
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] in ("-C", "-c", "--git-dir", "--work-tree", "--namespace") else 1
    if i >= len(args):
        return
    sub, rest = args[i], args[i + 1 :]
    opts, operands = split_opts(rest)
    dry = is_dry_run(rest) or has_flag(opts, "n" if sub == "clean" else "", "--dry-run")
    if sub == "reset" and ("--hard" in opts or "--merge" in opts or "--keep" in opts):
        st.add(CONFIRM, "throws away uncommitted changes (git reset --hard)", inv.text)
    elif sub == "clean" and not dry and has_flag(opts, "fdxX", "--force"):
        st.add(CONFIRM, "deletes untracked files (git clean)", inv.text)
    elif sub == "push" and not dry:
        if has_flag(opts, "fd", "--force", "--force-with-lease", "--delete", "--mirror", "--prune") or any(
            o.startswith("+") or o.startswith(":") for o in operands
        ):
            st.add(CONFIRM, "rewrites or deletes history on the remote (force push)", inv.text)
    elif sub == "branch" and has_flag(opts, "D", "--delete") and ("-D" in opts or "--force" in opts or "-f" in opts):
        st.add(CONFIRM, "deletes a branch that may not be merged", inv.text)
    elif sub == "branch" and has_flag(opts, "dD", "--delete"):
        st.add(CONFIRM, "deletes a branch", inv.text)
    elif sub == "stash" and operands and operands[0] in ("drop", "clear"):
        st.add(CONFIRM, "throws away stashed changes", inv.text)
    elif sub == "checkout" and ("-f" in opts or "--force" in opts or "--" in rest or "." in operands):
        st.add(CONFIRM, "throws away uncommitted changes (checkout)", inv.text)
    elif sub == "restore" and not ("--staged" in opts and "--worktree" not in opts and "-W" not in opts):
        st.add(CONFIRM, "throws away uncommitted changes (restore)", inv.text)
    elif sub == "switch" and has_flag(opts, "f", "--discard-changes", "--force"):
        st.add(CONFIRM, "throws away uncommitted changes (switch)", inv.text)
    elif sub == "rm" and not dry and "--cached" not in opts:
        st.add(CONFIRM, "deletes files (git rm)", inv.text)
    elif sub in ("filter-branch", "filter-repo") or (sub == "reflog" and operands[:1] in (["expire"], ["delete"])):
        st.add(CONFIRM, "rewrites repository history", inv.text)
    elif sub == "gc" and any(o.startswith("--prune") for o in opts):
        st.add(CONFIRM, "permanently removes unreachable commits", inv.text)
    elif sub in ("update-ref", "tag", "worktree", "remote") and has_flag(
        opts, "d" if sub != "worktree" else "", "--delete"
    ):
        st.add(CONFIRM, f"deletes git references ({sub})", inv.text)
    elif sub == "worktree" and operands[:1] in (["remove"], ["prune"]):
        st.add(CONFIRM, "deletes a git worktree", inv.text)
    elif sub == "config" and any("hookspath" in o.lower() or "sshcommand" in o.lower() for o in operands):
        st.add(CONFIRM, "changes which programs git runs", inv.text)


# ------------------------------------------------------------------------------------------- data, containers, cloud

_SQL_DESTROY = Keywords(
    r"\b(drop\s+(table|database|schema|index|view|user|role|collection)|truncate\s+(table\s+)?\w|"
    r"delete\s+from\s+[\w.\"`\[\]]+\s*(;|$|\))|update\s+[\w.\"`\[\]]+\s+set\s+[^;]*?(;|$)(?<!where)|"
    r"alter\s+table\s+\S+\s+drop|flushall|flushdb|dropdatabase\s*\(|\.drop\s*\(|deletemany\s*\(\s*\{\s*\}|"
    r"remove\s*\(\s*\{\s*\}\s*\))",
    re.IGNORECASE,
)
_SQL_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)


def sql_is_destructive(text: str) -> bool:
    for match in _SQL_DESTROY.finditer(text):
        statement = match.group(0).lower()
        if statement.startswith(("update", "delete")):
            tail = text[match.start() :].split(";", 1)[0]
            if _SQL_WHERE.search(tail):
                continue
        return True
    return False


def _database(inv: Invocation, st: State) -> None:
    if inv.name in ("dropdb", "dropuser"):
        st.add(CONFIRM, "deletes a database", inv.text)
        return
    if inv.name == "mysqladmin" and any(a.lower() in ("drop", "shutdown") for a in inv.args):
        st.add(CONFIRM, "deletes a database or stops the server", inv.text)
        return
    if inv.name == "redis-cli" and any(a.lower() in ("flushall", "flushdb", "shutdown") for a in inv.args):
        st.add(CONFIRM, "erases the Redis database", inv.text)
        return
    if sql_is_destructive(" ".join(inv.args)):
        st.add(CONFIRM, "deletes or bulk-changes database data", inv.text)


def _docker(inv: Invocation, st: State) -> None:
    _opts, operands = split_opts(inv.args)
    words = [o.lower() for o in operands[:3]]
    text = " ".join(inv.args)
    if re.search(r"(-v|--volume|--mount)[ =]+(type=bind,\s*)?(source=)?/(:|,|\s|$)", text) or (
        "--privileged" in text and ("--pid=host" in text or "-v /:" in text)
    ):
        st.add(BLOCK, "gives a container write access to the host's root file system", inv.text)
    for source in _mount_sources(inv.args):
        hit = st.policy.restricted(source, st.cwd, st.resolve)
        if hit is not None:
            st.add(BLOCK, f"gives a container the protected {hit}", inv.text)
        inside = st.policy.restricted_inside(source, st.cwd)
        if inside is not None:
            st.add(CONFIRM, f"gives a container {source}, which holds the protected {inside}", inv.text)
    if "--privileged" in inv.args or any(
        a.startswith(("--cap-add=all", "--cap-add=sys_admin")) for a in text.lower().split()
    ):
        st.add(CONFIRM, "runs a container with full access to this computer (--privileged)", inv.text)
    destroy = {"rm", "rmi", "prune", "kill", "stop", "down", "restart", "pause", "rename", "leave", "remove"}
    if words and (words[0] in destroy or any(w in destroy for w in words[1:3])):
        if not ("ls" in words or "ps" in words):
            st.add(CONFIRM, f"stops or removes containers or their data ({inv.name} {' '.join(words[:2])})", inv.text)
    if words[:2] in (["compose", "down"], ["system", "prune"], ["volume", "prune"], ["volume", "rm"]):
        st.add(CONFIRM, "removes containers and their data", inv.text)


def _mount_sources(args: list[str]) -> list[str]:
    """The host paths of ``-v SRC:DST``, ``--volume=SRC:DST`` and ``--mount type=bind,source=SRC,…``."""
    sources: list[str] = []
    for i, arg in enumerate(args):
        value = None
        if arg in ("-v", "--volume", "--mount") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(("--volume=", "--mount=")):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-v") and len(arg) > 2:
            value = arg[2:]
        if not value:
            continue
        if arg.startswith("--mount") or "source=" in value or "src=" in value:
            match = re.search(r"(?:^|,)(?:source|src)=([^,]+)", value)
            if match:
                sources.append(match.group(1))
        elif value[:1] in "/~.$":  # a named volume has no path
            sources.append(value.split(":", 1)[0])
    return sources


def _kubectl(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    if is_dry_run(inv.args) or not operands:
        return
    verb = operands[0].lower()
    if verb in ("delete", "apply", "replace", "patch", "scale", "drain", "cordon", "uncordon", "edit", "create",
                "set", "taint", "label", "annotate", "autoscale", "expose", "run"):  # fmt: skip
        st.add(CONFIRM, f"changes the cluster ({inv.name} {verb})", inv.text)
    elif verb == "rollout" and operands[1:2] and operands[1].lower() in ("restart", "undo", "pause", "resume"):
        st.add(CONFIRM, f"changes the cluster ({inv.name} rollout)", inv.text)


def _helm(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    if (
        operands
        and operands[0] in ("install", "upgrade", "uninstall", "delete", "rollback", "del")
        and not is_dry_run(inv.args)
    ):
        st.add(CONFIRM, f"changes the cluster (helm {operands[0]})", inv.text)


def _terraform(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    verb = operands[0] if operands else ""
    if verb == "destroy" or (verb == "apply" and not is_dry_run(inv.args)) or "-destroy" in inv.args:
        st.add(CONFIRM, f"changes real infrastructure ({inv.name} {verb})", inv.text)
    elif verb in ("import", "taint", "untaint", "up", "refresh") or operands[:2] == ["state", "rm"]:
        st.add(CONFIRM, f"changes infrastructure state ({inv.name} {verb})", inv.text)


_CLOUD_DESTROY = re.compile(
    r"^(delete|remove|rm|rb|terminate|stop|destroy|purge|deregister|disable|detach|revoke|reset|restart|reboot|"
    r"put-bucket-policy|put-bucket-acl|update|set-iam-policy|add-iam-policy-binding)",
    re.IGNORECASE,
)


def _cloud(inv: Invocation, st: State) -> None:
    _, operands = split_opts(inv.args)
    if is_dry_run(inv.args):
        return
    if (
        inv.name in ("aws", "gsutil", "rclone", "az")
        and any(st.place(o) == Place.HOME for o in operands)
        and any(re.match(r"^(s3|gs|az)://|^\w+:", o) for o in operands)
    ):
        st.add(BLOCK, "uploads your home directory to another machine", inv.text)
    for word in operands[1:4] if inv.name != "gsutil" else operands[:1]:
        if _CLOUD_DESTROY.match(word) or word.endswith(("-delete", "-remove")) or "delete" in word.split("-"):
            st.add(CONFIRM, f"deletes or changes cloud resources ({inv.name} {' '.join(operands[:3])})", inv.text)
            return


# ------------------------------------------------------------------------------------------- network


def _netcat(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    if any(a in ("-e", "-c", "--exec", "--sh-exec", "--lua-exec") or re.match(r"^-[a-z]*e$", a) for a in lowered):
        st.add(BLOCK, "opens a remote shell (netcat -e)", inv.text)
    if inv.name == "socat" and any(re.match(r"^(exec|system):", a) for a in lowered):
        st.add(BLOCK, "opens a remote shell (socat exec)", inv.text)


def _copy_out(inv: Invocation, st: State) -> None:
    """scp/rsync/sftp: shipping the home directory to another host; rsync --delete empties its destination."""
    opts, operands = split_opts(inv.args)
    remote = [o for o in operands if re.match(r"^([\w.-]+@)?[\w.-]+:", o) and not re.match(r"^[A-Za-z]:", o)]
    if remote and any(st.place(o) >= Place.HOME for o in operands if o not in remote):
        st.add(BLOCK, "copies your home directory to another machine", inv.text)
    if inv.name == "rsync" and len(operands) >= 2:
        if any(o.startswith("--delete") or o in ("--del", "--remove-source-files") for o in opts):
            local = [o for o in operands if o not in remote]
            if "--remove-source-files" in opts:
                judge_deletion(local[:-1] or local, True, inv, st)
            if any(o.startswith(("--delete", "--del")) for o in opts) and operands[-1] not in remote:
                judge_deletion([operands[-1]], False, inv, st, verb="deletes the destination's extra")
    if has_flag(opts, "ra", "--recursive", "--archive"):
        reads_whole_tree(operands[:-1], inv, st)
    _sends_file(inv, st)


def _sends_file(inv: Invocation, st: State) -> None:
    """curl -F f=@x, -T x, -d @x; wget --post-file x; scp and rsync to a host: a file leaves this computer."""
    args = inv.args
    for i, arg in enumerate(args):
        value = args[i + 1] if i + 1 < len(args) else ""
        if inv.name == "curl":
            for short, longs, sends in _CURL_UPLOADS:
                attached = arg[2:] if short and arg.startswith(short) and len(arg) > 2 else None
                if arg == short or arg in longs or attached is not None:
                    if sends.search(attached if attached is not None else value):
                        st.add(CONFIRM, _SENDS_A_FILE, inv.text)
                        return
        elif inv.name == "wget" and arg.split("=", 1)[0] in ("--post-file", "--body-file"):
            st.add(CONFIRM, _SENDS_A_FILE, inv.text)
            return
    if inv.name in ("scp", "rsync"):
        _, operands = split_opts(args)
        if len(operands) >= 2 and _REMOTE.match(operands[-1]) and not all(_REMOTE.match(o) for o in operands[:-1]):
            st.add(CONFIRM, _SENDS_A_FILE, inv.text)


_SENDS_A_FILE = "sends a file from this computer to another one"
_REMOTE = re.compile(r"^(?:[\w.-]+@[\w.-]+|[\w.-]{2,}):")  # host:path, user@host:, not a drive (C:\)
_AT_FILE = re.compile(r"^@(?!-$).")  # '@file', not '@-' (standard input, judged with the pipeline)
# (short option, long options, what in its value names a file to send)
_CURL_UPLOADS = (
    ("-F", ("--form",), re.compile(r"=[@<](?!-(;|$))")),
    ("-T", ("--upload-file",), re.compile(r"^(?!-$).")),
    ("-d", ("--data", "--data-binary", "--data-ascii", "--json"), _AT_FILE),
    ("", ("--data-urlencode",), re.compile(r"^[^=]*@(?!-$).")),
)


def _accounts(inv: Invocation, st: State) -> None:
    """Creating, deleting or changing accounts, passwords, groups and who may use sudo."""
    if any(a in HELP_FLAGS for a in inv.args) or (inv.name == "passwd" and "-S" in inv.args):
        return
    st.add(CONFIRM, "changes user accounts, passwords or administrator rights", inv.text)


def _root_shell(inv: Invocation, st: State) -> None:
    """``sudo -i``, ``sudo -s``, ``su``, ``pkexec``: a shell or program with another user's rights."""
    opts, _ = split_opts(inv.args)
    if inv.name in ("su", "pkexec") or any(
        o in ("--shell", "--login") or re.fullmatch(r"-[A-Za-z]*[is][A-Za-z]*", o) for o in opts
    ):
        st.add(CONFIRM, "runs a shell or program as another user, such as root", inv.text)


def reads_whole_tree(roots: list[str], inv: Invocation, st: State) -> None:
    """A command that reads every file under ``roots`` (grep -r, tar, cp -r, find -exec) reads what the
    restricted folders inside them hold: the user decides."""
    for root in roots:
        inside = st.policy.restricted_inside(root, st.cwd)
        if inside is None and st.resolve is not None:  # judging for real: another server's state directory
            inside = other_state_dir(os.path.join(st.policy.expand(root, st.cwd), "admin.token"), st.windows)
        if inside is not None:
            where = "this folder" if root in (".", "./") else root
            what = inside if inside.startswith("the Contop") else f"the protected {inside}"
            st.add(CONFIRM, f"reads everything under {where}, including {what}", inv.text)
            return


_GREP_RECURSIVE = re.compile(r"-[a-zA-Z]*[rR][a-zA-Z]*|--recursive|--dereference-recursive|--directories=recurse")


def _grep(inv: Invocation, st: State) -> None:
    if inv.name == "ack" or any(_GREP_RECURSIVE.fullmatch(a) for a in inv.args):
        _, operands = split_opts(without_exclusions(inv.args))
        pattern_given = any(
            a in ("-e", "-f", "--regexp", "--file") or a.startswith(("--regexp=", "--file=")) for a in inv.args
        )
        reads_whole_tree((operands if pattern_given else operands[1:]) or ["."], inv, st)


def _searcher(inv: Invocation, st: State) -> None:
    """rg and ag skip hidden folders (``~/.ssh``, the state directory) unless told otherwise."""
    if any(a in ("--hidden", "-u", "-uu", "-uuu", "--unrestricted", "-.") for a in inv.args):
        _, operands = split_opts(inv.args)
        reads_whole_tree(operands[1:] or ["."], inv, st)


def _archive(inv: Invocation, st: State) -> None:
    args = inv.args
    if inv.name == "tar":
        roots = _tar_inputs(args)
        if roots is not None:
            reads_whole_tree(roots, inv, st)
        return
    creating = (inv.name == "zip" and any(re.fullmatch(r"-[a-zA-Z]*r[a-zA-Z]*", a) for a in args)) or (
        inv.name in ("7z", "7za") and args[:1] == ["a"]
    )
    if creating:
        _, operands = split_opts(without_exclusions(args[1:] if inv.name != "zip" else args, zip_style=True))
        reads_whole_tree(operands[1:], inv, st)


_TAR_VALUED_LETTERS = "fCTXbKNVgLF"  # short options that take the next word
_TAR_VALUED_LONG = frozenset({"--file", "--directory", "--files-from", "--exclude", "--exclude-from",
                              "--transform", "--xform", "--owner", "--group", "--mode", "--label", "--newer",
                              "--after-date", "--use-compress-program", "--index-file", "--exclude-tag"})  # fmt: skip


def _tar_inputs(args: list[str]) -> list[str] | None:
    """What ``tar`` archives when it creates one (None otherwise), each as seen from its ``-C`` folder."""
    if not args:
        return None
    words = list(args)
    creating = "--create" in words or bool(re.fullmatch(r"-?[a-zA-Z]*c[a-zA-Z]*", words[0]))
    if not creating:
        return None
    folder = ""
    inputs: list[str] = []
    pending: list[str] = []  # letters of a bundle still waiting for their values
    first = words[0]
    if not first.startswith("-"):  # old style 'tar czf out.tgz -C ~ proj': the bundle's values follow in order
        pending = [c for c in first if c in _TAR_VALUED_LETTERS]
        words = words[1:]
    i = 0
    while i < len(words):
        word = words[i]
        if pending:
            letter = pending.pop(0)
            if letter == "C":
                folder = word
            i += 1
            continue
        if word in ("-C", "--directory"):
            folder = words[i + 1] if i + 1 < len(words) else folder
            i += 2
            continue
        if word.startswith("--directory="):
            folder = word.split("=", 1)[1]
        elif word in _TAR_VALUED_LONG:
            i += 1
        elif word.startswith("-") and not word.startswith("--") and len(word) > 1:
            pending = [c for c in word[1:] if c in _TAR_VALUED_LETTERS]
            if pending and word[1:].index(pending[0]) < len(word) - 2:  # '-fout.tgz': the value is attached
                pending = []
        elif not word.startswith("-") and word != "-":
            inputs.append(word if not folder or word.startswith(("/", "~")) else f"{folder.rstrip('/')}/{word}")
        i += 1
    return inputs


def without_exclusions(args: list[str], *, zip_style: bool = False) -> list[str]:
    """``args`` without what exclusion options name (``--exclude=.ssh``, ``-x '.ssh/*'`` for zip)."""
    out: list[str] = []
    skipping = False
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        if arg.startswith(("--exclude=", "--exclude-dir=", "--ignore=", "--ignore-dir=", "--exclude-from=")):
            continue
        if arg in ("--exclude", "--exclude-dir", "--ignore", "--ignore-dir", "--exclude-from"):
            skip_next = True
            continue
        if zip_style and arg in ("-x", "--exclude", "-x@"):
            skipping = True
            continue
        if skipping and arg.startswith("-"):
            skipping = False
        if not skipping:
            out.append(arg)
    return out


def _mshta_like(inv: Invocation, st: State) -> None:
    st.add(BLOCK, f"runs a script through {inv.name}, a common way to run downloaded code", inv.text)


RULES: dict[str, Rule] = {
    "rm": _rm, "unlink": _rm, "rmdir": _rm, "srm": _rm, "wipe": _shred, "shred": _shred,
    "find": _find, "mv": _mv, "cp": _cp, "install": _cp, "ln": _ln,
    "chmod": _chmod, "chown": _chmod, "chgrp": _chmod, "chattr": _chmod, "setfacl": _chmod,
    "dd": _dd,
    "mkfs": _disk_tool, "mke2fs": _disk_tool, "mkswap": _disk_tool, "wipefs": _disk_tool, "fdisk": _disk_tool,
    "sfdisk": _disk_tool, "parted": _disk_tool, "gdisk": _disk_tool, "sgdisk": _disk_tool, "cfdisk": _disk_tool,
    "blkdiscard": _disk_tool, "zpool": _disk_tool, "diskutil": _disk_tool, "badblocks": _disk_tool,
    "cryptsetup": _disk_tool, "pvremove": _disk_tool, "vgremove": _disk_tool, "lvremove": _disk_tool,
    "truncate": _truncate, "sed": _sed, "tee": _tee,
    "kill": _kill, "killall": _kill, "pkill": _kill, "xkill": _kill, "skill": _kill, "taskkill": _kill,
    "shutdown": _power, "reboot": _power, "halt": _power, "poweroff": _power, "init": _power, "telinit": _power,
    "logout": _power, "pmset": _power, "gnome-session-quit": _power, "loginctl": _power,
    "systemctl": _systemctl, "service": _service, "launchctl": _launchctl, "crontab": _crontab,
    "at": _at, "batch": _at,
    "ufw": _firewall, "iptables": _firewall, "ip6tables": _firewall, "iptables-legacy": _firewall, "nft": _firewall,
    "firewall-cmd": _firewall, "setenforce": _firewall, "auditctl": _firewall, "csrutil": _firewall,
    "spctl": _firewall, "aa-disable": _firewall, "aa-teardown": _firewall,
    "history": _history, "journalctl": _journalctl, "unset": _unset,
    "git": _git,
    "psql": _database, "mysql": _database, "mariadb": _database, "sqlite3": _database, "mongo": _database,
    "mongosh": _database, "redis-cli": _database, "dropdb": _database, "dropuser": _database,
    "mysqladmin": _database, "sqlcmd": _database, "clickhouse-client": _database, "cqlsh": _database,
    "docker": _docker, "podman": _docker, "docker-compose": _docker, "nerdctl": _docker,
    "kubectl": _kubectl, "oc": _kubectl, "k": _kubectl, "helm": _helm,
    "terraform": _terraform, "tofu": _terraform, "pulumi": _terraform,
    "aws": _cloud, "gcloud": _cloud, "az": _cloud, "gsutil": _cloud, "doctl": _cloud, "rclone": _cloud,
    "nc": _netcat, "ncat": _netcat, "netcat": _netcat, "socat": _netcat,
    "scp": _copy_out, "rsync": _copy_out, "sftp": _copy_out,
    "grep": _grep, "egrep": _grep, "fgrep": _grep, "ack": _grep, "rg": _searcher, "ag": _searcher,
    "ps": _ps,
    "tar": _archive, "zip": _archive, "7z": _archive, "7za": _archive,
    "mshta": _mshta_like, "bitsadmin": _mshta_like,
}  # fmt: skip
for _name in _PKG_REMOVE:
    RULES.setdefault(_name, _package)
RULES["pacman"] = _package
RULES["brew"] = _package
RULES["pip"] = _package


def _secrets(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    if inv.name == "gpg" and any(a.startswith(("--export-secret", "--export-ownertrust")) for a in lowered):
        st.add(BLOCK, "exports your private keys", inv.text)
    elif inv.name == "security" and any(a in ("dump-keychain", "-w", "find-internet-password") for a in lowered):
        st.add(BLOCK, "reads passwords from the keychain", inv.text)
    elif inv.name in ("secret-tool", "pass") and lowered[:1] in (["lookup"], ["show"], ["search"]):
        st.add(BLOCK, "reads stored passwords", inv.text)


def _settings(inv: Invocation, st: State) -> None:
    lowered = [a.lower() for a in inv.args]
    if (inv.name == "defaults" and lowered[:1] == ["delete"]) or (
        inv.name in ("gsettings", "dconf") and lowered[:1] and lowered[0] in ("reset", "reset-recursively")
    ):
        st.add(CONFIRM, "resets settings to their defaults", inv.text)
    elif inv.name == "tccutil" and lowered[:1] == ["reset"]:
        st.add(CONFIRM, "resets privacy permissions", inv.text)


RULES.update({"curl": _sends_file, "wget": _sends_file})
for _name in (
    "useradd",
    "userdel",
    "usermod",
    "adduser",
    "deluser",
    "addgroup",
    "delgroup",
    "groupadd",
    "groupdel",
    "groupmod",
    "gpasswd",
    "chpasswd",
    "newusers",
    "passwd",
    "chsh",
    "chfn",
    "chage",
    "visudo",
    "vipw",
):
    RULES[_name] = _accounts  # fmt: skip
RULES.update({"sudo": _root_shell, "doas": _root_shell, "su": _root_shell, "pkexec": _root_shell})
RULES.update({"defaults": _settings, "gsettings": _settings, "dconf": _settings, "tccutil": _settings})
RULES.update({"gpg": _secrets, "gpg2": _secrets, "security": _secrets, "secret-tool": _secrets, "pass": _secrets})
HELP_FLAGS = frozenset({"--help", "--version", "-?", "/?"})


def judge(inv: Invocation, st: State) -> None:
    if any(a in HELP_FLAGS for a in inv.args):
        return
    rule = RULES.get(inv.name)
    if rule is not None:
        rule(inv, st)
