"""What one program invocation does, judged from its name and arguments (shared by all three shells).

Each rule looks at an ``Invocation`` whose prefixes (sudo, env, xargs…) are already stripped, and records
findings on the ``State``. Programs without a rule are ordinary (safe) unless their arguments touch a
restricted path, which the caller checks.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from contop.security.findings import BLOCK, CONFIRM
from contop.security.keywords import Keywords
from contop.security.paths import Place, other_state_dir
from contop.security.shellparse import Cmd, matching_end, parse
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
    r"\\start menu\\programs\\startup(\\|$)|\\startup\\|"
    r"(^|/)\.(xprofile|xsession|xsessionrc|xinitrc|bash_aliases|bash_logout|zlogout|pam_environment)$|"
    r"/\.config/(environment\.d|plasma-workspace/env|autostart-scripts)(/|$)|/\.config/openbox/autostart(\.sh)?$|"
    r"/\.local/share/applications/[^/]+\.desktop$|/site-packages/[^/]+\.pth$|(^|/)\.git/hooks/",
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
    r"(^|[/\\])\.[^/\\]+$|\.(py|js|ts|tsx|jsx|go|rs|c|h|cpp|hpp|java|kt|rb|php|sh|ps1|bat|cmd|toml|ya?ml|ini|cfg|json|"
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
        if len(operands) > 1:
            writes_whole_tree(operands[-1], inv, st)
    elif len(operands) > 1:  # 'cp /dev/null a.py', 'install x config.json': one file replaces another
        _copies_over(operands[-1], inv, st)


def _copies_over(dest: str, inv: Invocation, st: State) -> None:
    """Asks only when the disk shows the file exists (``cp config.example.yml config.yml`` makes a new one)."""
    if st.resolve is None:
        return
    path = st.policy.expand(dest, st.cwd)
    if not os.path.isdir(path) and not dest.startswith(_TEMP_PREFIXES) and _overwrites(dest, path, st):
        st.add(CONFIRM, "overwrites an existing file", inv.text)


def _web_server(inv: Invocation, st: State) -> None:
    """``busybox httpd -h DIR``, ``http-server DIR`` (npm): a folder shared with the network."""
    from contop.security.embedded import shares_folder

    args = inv.args
    if inv.name == "httpd":
        folder = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "-h"), st.cwd)
    else:
        folder = next((a for a in args if not a.startswith("-") and not a.isdigit()), st.cwd)
    bind = next((args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-a", "--address", "-p:")), "")
    shares_folder(folder, bind, st, inv.text)


def _npx(inv: Invocation, st: State) -> None:
    """``npx http-server ~``: the package run is judged as the program it is."""
    opts = 0
    while opts < len(inv.args) and inv.args[opts].startswith("-"):
        opts += 1
    if opts < len(inv.args) and inv.args[opts] in ("http-server", "serve"):
        _web_server(Invocation("http-server", inv.args[opts + 1 :], inv.text), st)


def _sort(inv: Invocation, st: State) -> None:
    """``sort -o settings.yaml /dev/null``: its output file is written as ``>`` would write it."""
    for i, arg in enumerate(inv.args):
        if arg in ("-o", "--output") and i + 1 < len(inv.args):
            judge_write_target(inv.args[i + 1], False, inv, st)
        elif arg.startswith("--output="):
            judge_write_target(arg.split("=", 1)[1], False, inv, st)
        elif arg.startswith("-o") and len(arg) > 2:
            judge_write_target(arg[2:], False, inv, st)


def writes_whole_tree(dest: str, inv: Invocation, st: State) -> None:
    """``cp -r payload/. ~``, ``tar xf a.tar -C ~``: a tree copied or unpacked into a folder that holds a
    restricted one can write into it (``~/.ssh/authorized_keys``, ``~/.bashrc``): the user decides."""
    inside = st.policy.restricted_inside(dest, st.cwd)
    if inside is not None:
        where = "this folder" if dest in (".", "./") else dest
        st.add(CONFIRM, f"writes a whole tree into {where}, which holds the protected {inside}", inv.text)


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
    scripts, script_files, files, in_place, sandboxed = _sed_parts(inv.args)
    if in_place:
        for f in files:
            _edits_in_place(f, inv, st)
        if len(files) > 1 or any(re.search(r"[*?\[]", f) for f in files) or inv.via_xargs:
            st.add(CONFIRM, "edits many files in place", inv.text)
    if sandboxed:  # --sandbox refuses the e, r and w commands
        return
    texts: list[str] = []
    for script in scripts:
        known = _substituted(script, st)
        if known is not None:
            texts.append(known)
    for path in script_files:
        text = _stdin_text(inv, st) if path in ("-", "/dev/stdin") else script_text(path, st)
        if text is None:
            st.add(CONFIRM, "runs a sed script whose text cannot be known in advance", inv.text)
        else:
            texts.append(text)
    _sed_commands("\n".join(texts), inv, st)


def _substituted(text: str, st: State) -> str | None:
    """A script argument with its substitution put in (``sed "$(printf '1e id')"``) when what it prints can be
    known; None when it cannot (``$(cat script.sed)`` is judged as the unknown pattern it is)."""
    if "$(" not in text and "`" not in text:
        return text
    if text.startswith("$(") and matching_end(text, 2, ")") == len(text) - 1:
        from contop.security.posix import produce_script

        produced = produce_script(parse(text[2:-1]), st)
        return produced if isinstance(produced, str) else None
    return None


_SED_LONG = (("--expression", "--e"), ("--file", "--fi"), ("--line-length", "--l"), ("--in-place", "--i"),
             ("--sandbox", "--sa"))  # fmt: skip


def _sed_parts(args: list[str]) -> tuple[list[str], list[str], list[str], bool, bool]:
    """What a sed command line holds: its script pieces (-e, or the first operand), its script files (-f), the
    files it reads, whether it edits them in place (-i) and whether --sandbox turns its e, r and w commands off.
    Short options run together as GNU sed reads them: ``-ne 's/a/b/'``, ``-i.bak``, ``-es/a/b/``."""
    scripts: list[str] = []
    script_files: list[str] = []
    operands: list[str] = []
    in_place = sandboxed = False
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else ""
        if arg == "--":
            operands += args[i + 1 :]
            break
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            full = long_option(name, _SED_LONG)
            if full in ("--expression", "--file", "--line-length"):
                if not eq:
                    value, i = following, i + 1
                (scripts if full == "--expression" else script_files if full == "--file" else []).append(value)
            in_place = in_place or full == "--in-place"
            sandboxed = sandboxed or full == "--sandbox"
        elif arg.startswith("-") and arg != "-":
            for k, letter in enumerate(arg[1:], 1):
                if letter == "i":  # what follows is the backup suffix: '-ie' keeps a copy named FILEe
                    in_place = True
                    break
                if letter in "efl":
                    value = arg[k + 1 :]
                    if not value:
                        value, i = following, i + 1
                    (scripts if letter == "e" else script_files if letter == "f" else []).append(value)
                    break
        else:
            operands.append(arg)
        i += 1
    if not scripts and not script_files and operands:
        scripts, operands = operands[:1], operands[1:]
    return scripts, script_files, operands, in_place, sandboxed


def _edits_in_place(target: str, inv: Invocation, st: State) -> None:
    """A file an editor rewrites (sed -i, vim's :w): login files and system files are serious."""
    if persistence_write(target, inv, st):
        return
    path = st.policy.expand(target, st.cwd)
    if CRITICAL_FILES.search(path):
        st.add(BLOCK, "rewrites operating system files", inv.text)
    elif path.startswith("/etc/"):
        st.add(CONFIRM, "edits system configuration", inv.text)


def _sed_commands(script: str, inv: Invocation, st: State) -> None:
    """GNU sed's ``e`` command and ``s///e`` flag run a shell command; ``r``/``R`` read a file, ``w``/``W`` and
    ``s///w`` write one. A script too unusual to read asks: sed itself refuses most of those."""
    found, understood = _sed_script(script)
    if not understood:
        st.add(CONFIRM, "runs a sed script that could not be judged", inv.text)
    for kind, value in found:
        if kind == "e":
            st.add(CONFIRM, "runs a shell command from a sed script", inv.text)
            if value.strip():
                from contop.security.posix import analyze_nested

                analyze_nested(value, st)
        elif kind == "r":
            st.check_paths([value], inv.text)
        else:
            writes_file(value, False, inv, st)


def writes_file(target: str, append: bool, inv: Invocation, st: State) -> None:
    """A file that a program's option or script writes, judged as a redirection to it is."""
    st.check_paths([target], inv.text)
    judge_write_target(target, append, inv, st)


_SED_NO_ARGUMENT = frozenset("=dDgGhHnNpPxzF")
_SED_TO_LINE_END = {"r": "r", "R": "r", "w": "w", "W": "w", "e": "e"}  # the rest of the line is their argument


def _sed_script(script: str) -> tuple[list[tuple[str, str]], bool]:
    """The commands of a sed script that run, read or write something, as (``e``/``r``/``w``, argument), and
    whether the whole script followed GNU sed's grammar."""
    found: list[tuple[str, str]] = []
    n = len(script)
    i = 0
    while True:
        while i < n and script[i] in " \t\n;":
            i += 1
        if i >= n:
            return found, True
        i = _sed_address(script, i)
        if 0 <= i < n and script[i] == ",":
            i = _sed_address(script, _skip_blanks(script, i + 1), second=True)
        if i < 0:
            return found, False
        i = _skip_blanks(script, i)
        while i < n and script[i] == "!":
            i = _skip_blanks(script, i + 1)
        if i >= n:
            return found, False
        command = script[i]
        i += 1
        if command in "{}":
            continue
        if command == "#" or command in "aic":  # a comment; text to insert (a backslash continues the line)
            while i < n and script[i] != "\n":
                i += 2 if script[i] == "\\" else 1
            continue
        if command in ":btTv":  # labels and a version end at a semicolon or the end of the line
            while i < n and script[i] not in ";\n":
                i += 1
            continue
        if command in _SED_TO_LINE_END:
            end = script.find("\n", i)
            end = n if end < 0 else end
            found.append((_SED_TO_LINE_END[command], script[i:end].strip()))
            i = end
            continue
        if command in "qQlL":
            i = _skip_blanks(script, i)
            while i < n and script[i].isdigit():
                i += 1
        elif command in "sy":
            if i >= n or script[i] in "\n\\":
                return found, False
            delimiter = script[i]
            i = _sed_delimited(script, i + 1, delimiter, brackets=command == "s")
            i = _sed_delimited(script, i, delimiter, brackets=False) if i >= 0 else i
            if i < 0:
                return found, False
            while command == "s" and i < n and script[i] in "gpiImMew0123456789":
                flag = script[i]
                i += 1
                if flag == "e":
                    found.append(("e", ""))  # the pattern space, whatever the input makes it, is run
                elif flag == "w":
                    end = script.find("\n", i)
                    end = n if end < 0 else end
                    found.append(("w", script[i:end].strip()))
                    i = end
        elif command not in _SED_NO_ARGUMENT:
            return found, False
        i = _skip_blanks(script, i)
        if i < n and script[i] not in ";\n}#":
            return found, False


def _skip_blanks(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _sed_address(script: str, i: int, *, second: bool = False) -> int:
    """Where the address at ``i`` ends (``i`` when there is none), or -1 when it is malformed: ``12``, ``$``,
    ``/re/I``, ``\\%re%``, ``first~step``, and after a comma ``+N`` and ``~N``."""
    n = len(script)
    if i >= n:
        return -1 if second else i
    c = script[i]
    if c.isdigit() or (second and c in "+~"):
        i += 1
        while i < n and (script[i].isdigit() or script[i] == "~"):
            i += 1
        return i
    if c == "$":
        return i + 1
    if c in "/\\":
        if c == "\\":
            i += 1
            if i >= n:
                return -1
        i = _sed_delimited(script, i + 1, script[i], brackets=True)
        while 0 <= i < n and script[i] in "IM":
            i += 1
        return i
    return -1 if second else i


def _sed_delimited(script: str, i: int, delimiter: str, *, brackets: bool) -> int:
    """The position after the ``delimiter`` that ends the part starting at ``i`` (a regular expression, where a
    bracket expression may hold the delimiter, or a replacement), or -1 when there is none."""
    n = len(script)
    while i < n:
        c = script[i]
        if c == "\\":
            i += 2
            continue
        if c == delimiter:
            return i + 1
        if c == "\n":
            return -1
        if c == "[" and brackets:
            j = i + 1
            if j < n and script[j] == "^":
                j += 1
            if j < n and script[j] == "]":
                j += 1
            while j < n and script[j] != "]":
                if script[j] == "[" and j + 1 < n and script[j + 1] in ":=.":
                    close = script.find(script[j + 1] + "]", j + 2)
                    j = close + 1 if close > 0 else j
                j += 1
            i = j
        i += 1
    return -1


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


# ------------------------------------------------------------------------------------------- options that run code
# Programs whose options, settings or script text name a command to run or a file to read or write: each such
# command is judged as one, each file as a read or a write, and a command given to a program asks first.


def long_option(word: str, names: tuple[tuple[str, str], ...]) -> str:
    """The full spelling of a long option among ``names`` (each with the shortest abbreviation that GNU getopt
    takes for it: ``--to-com`` is ``--to-command``), else ``word`` itself, without any ``=value``."""
    given = word.split("=", 1)[0]
    for full, least in names:
        if len(given) >= len(least) and full.startswith(given):
            return full
    return given


def option_values(args: list[str], short: str, *long: str) -> list[str]:
    """Every value of ``-x VALUE``, ``-xVALUE``, ``--long VALUE`` and ``--long=VALUE`` in ``args``."""
    values: list[str] = []
    for i, arg in enumerate(args):
        following = args[i + 1] if i + 1 < len(args) else ""
        if (short and arg == short) or arg in long:
            values.append(following)
        elif short and arg.startswith(short) and not arg.startswith("--"):
            values.append(arg[len(short) :])
        elif any(arg.startswith(name + "=") for name in long):
            values.append(arg.split("=", 1)[1])
    return values


def split_words(text: str) -> list[str]:
    """A command line given as one string (``-e 'ssh -p 22'``, ``env -S'…'``), split as the shell would."""
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return text.split()


def runs_given_command(command: str, whose: str, inv: Invocation, st: State) -> None:
    """An option whose value is a command line the program runs: ask, and judge that command as any other."""
    st.add(CONFIRM, f"runs a command given in {whose} options", inv.text)
    _nested(command, st)


def _nested(command: str, st: State) -> None:
    if command.strip():
        from contop.security.posix import analyze_nested

        analyze_nested(command, st)


MAX_SCRIPT_TEXT = 64 * 1024


def script_text(path: str, st: State) -> str | None:
    """The text of a file a program reads commands from (sed -f, sqlite3 .read, ssh -F): what this line wrote
    into it, else the file on disk when judging for real; "" when there is nothing to read, None when the text
    cannot be known (written by this line in a way we cannot follow, or too long)."""
    full = st.policy.expand(path, st.cwd)
    if full in st.written:
        return st.written[full]
    if st.resolve is None or st.windows or not os.path.isfile(full):  # never open a pipe or a device
        return ""
    try:
        with open(full, "rb") as file:
            data = file.read(MAX_SCRIPT_TEXT + 1)
    except OSError:
        return ""
    return None if len(data) > MAX_SCRIPT_TEXT else data.decode("utf-8", errors="replace")


def _own_command(text: str) -> Cmd | None:
    """The one simple command ``text`` is (the text of an invocation), parsed again for what the words alone do
    not say: its assignments and here-strings."""
    commands = parse(text).commands()
    return commands[0] if len(commands) == 1 and commands[0].group is None else None


def _stdin_text(inv: Invocation, st: State) -> str | None:
    """What a command reads on its standard input when the line says it: a here-string or a here-document."""
    if st.windows or "<<" not in inv.text:
        return None
    cmd = _own_command(inv.text)
    if cmd is None:
        return None
    if any(op == "<<<" for op, _ in cmd.redirects):
        return next(body for op, body in cmd.redirects if op == "<<<")
    if any(op == "<<" for op, _ in cmd.redirects):  # the body follows the line, outside the command's own text
        for other in parse(st.source).commands():
            if other.text == inv.text:
                return next((body for op, body in other.redirects if op == "<<"), None)
    return None


# ------------------------------------------------------------------------------------------- variables on the line

# Set before a command, each makes a program run code the line chooses: a startup file, a library, an option.
RUNS_OTHER_CODE = frozenset({"BASH_ENV", "ENV", "ZDOTDIR", "PROMPT_COMMAND", "LESSOPEN", "LESSCLOSE", "GIT_SSH",
                             "GIT_PROXY_COMMAND", "GIT_ASKPASS", "SSH_ASKPASS", "SUDO_ASKPASS", "GIT_EXTERNAL_DIFF",
                             "GIT_EXEC_PATH", "GIT_TEMPLATE_DIR", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG",
                             "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",
                             "DYLD_INSERT_LIBRARIES", "DYLD_LIBRARY_PATH", "PYTHONSTARTUP", "PERL5OPT", "PERL5DB",
                             "RUBYOPT", "NODE_OPTIONS", "BROWSER"})  # fmt: skip
# Those that name a pager, an editor or ssh: harmless while they name a plain one ('GIT_PAGER=cat git log').
NAMES_A_PROGRAM = frozenset({"PAGER", "GIT_PAGER", "MANPAGER", "SYSTEMD_PAGER", "EDITOR", "VISUAL", "GIT_EDITOR",
                             "GIT_SEQUENCE_EDITOR", "SUDO_EDITOR"})  # fmt: skip
_NAMES_SSH = frozenset({"GIT_SSH_COMMAND", "RSYNC_RSH"})
_CODE_VARIABLE = re.compile(
    r"\b(?:" + "|".join(sorted(RUNS_OTHER_CODE | NAMES_A_PROGRAM | _NAMES_SSH)) + r"|GIT_CONFIG_KEY_\d+)="
)
_ASSIGNED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.DOTALL)
_PAGERS = frozenset({"cat", "less", "more", "most", "bat", "batcat", "delta", "diff-so-fancy", "head", "tail"})
_PLAIN_EDITORS = frozenset({"vi", "vim", "nvim", "nano", "pico", "emacs", "emacsclient", "micro", "code", "codium",
                            "subl", "gedit", "kate", "mcedit", "joe", "true", "false", ":"})  # fmt: skip
_PAGER_FLAG = re.compile(
    r"-[RFXSrimMNIJKWwepqQs]+|--(?!\S*(log|key|file|exec|cmd|command|config|init|source|script|shell|open|pipe))"
    r"[a-z][a-z-]*(=[\w.-]+)?"
)  # less's -o FILE writes a log and -k FILE reads key bindings: not plain
_EDITOR_FLAGS = frozenset({"-w", "--wait", "-n", "-nw", "-f", "--nofork", "-R", "--new-window", "--reuse-window"})
_PROGRAM_DIR = re.compile(r"(/usr(/local)?|/opt/homebrew)?/bin/")


def plain_program(value: str) -> bool:
    """Whether a pager or editor setting names a plain pager or editor (``less -R``, ``code --wait``, none at
    all), which runs nothing else."""
    words = value.split()
    if not words:
        return True
    if any(c in value for c in "|;&$`<>(){}\\'\"*?!"):
        return False
    program = words[0]
    if "/" in program:
        head, _, program = program.rpartition("/")
        if not _PROGRAM_DIR.fullmatch(head + "/"):
            return False
    if program in _PAGERS:
        return all(_PAGER_FLAG.fullmatch(w) for w in words[1:])
    return program in _PLAIN_EDITORS and all(w in _EDITOR_FLAGS for w in words[1:])


def _plain_ssh(value: str, inv: Invocation, st: State) -> bool:
    """Whether a remote-shell setting (rsync -e, GIT_SSH_COMMAND, core.sshCommand) runs ssh itself: its options
    are then judged as ssh's own."""
    words = split_words(value)
    folder = words[0].rpartition("/")[0] if words else ""
    if not words or normalise(words[0]) != "ssh" or (folder and not _PROGRAM_DIR.fullmatch(folder + "/")):
        return False
    _ssh(Invocation("ssh", words[1:], inv.text), st)
    return True


def _line_variables(inv: Invocation, st: State) -> None:
    """``PAGER='sh -c …' git log``, ``env LESSOPEN='|…' less f``, ``export BASH_ENV=…; bash x.sh``: a variable
    set on the line that makes the program run other code; and ``env -S'…'``, whose text is a command line."""
    assigned = {k: v for k, v in st.vars.items() if k in RUNS_OTHER_CODE or k in NAMES_A_PROGRAM or k in _NAMES_SSH}
    text = inv.text
    if not st.windows and (("=" in text and _CODE_VARIABLE.search(text)) or _ENV_SPLIT_HINT.search(text)):
        cmd = _own_command(text)
        if cmd is not None:
            assigned.update((name, st.substitute(value)) for name, value in cmd.assigns)
            prefix = _prefix_words(cmd.words)
            for word in prefix:
                match = _ASSIGNED.fullmatch(word)
                if match is not None:
                    assigned[match.group(1)] = st.substitute(match.group(2))
            _env_split_string(cmd.words, len(prefix), st)
    for name, value in assigned.items():
        if name.startswith("GIT_CONFIG_KEY_"):
            _git_setting(value, assigned.get("GIT_CONFIG_VALUE_" + name[15:]), inv, st, _GIT_SETTINGS_RUN)
            continue
        if name in NAMES_A_PROGRAM:
            risky = not plain_program(value)
        elif name in _NAMES_SSH:
            risky = not _plain_ssh(value, inv, st)
        elif name == "ENV":  # a file an interactive sh reads first; 'ENV=production' names none
            risky = any(c in value for c in "/$`")
        elif name in RUNS_OTHER_CODE:
            risky = value.strip() not in ("", "/dev/null")
        else:
            continue
        if risky:
            st.add(CONFIRM, f"sets a variable that makes the program run other code: {name}", text)


def _prefix_words(words: list[str]) -> list[str]:
    """The words before the program that ``words`` runs (``sudo``, ``env A=b -i``…), and the program's own first
    word when it is ``env`` itself (``env -S'…'`` alone)."""
    from contop.security.posix import strip_prefixes

    wrapped, _ = strip_prefixes(words)
    cut = len(words) - len(wrapped)
    if cut < 0 or words[cut:] != wrapped:  # strip_prefixes split an 'env -S' string: every word may matter
        return words
    return words[: cut + 1] if wrapped and normalise(wrapped[0]) == "env" else words[:cut]


_ENV_SPLIT = re.compile(r"-[iv0]*S(.*)", re.DOTALL)
_ENV_SPLIT_HINT = re.compile(r"-[iv0]*S|--sp")


def _env_split_string(words: list[str], prefix: int, st: State) -> None:
    """``env -S'sh -c' 'rm -rf ~'``, ``env -iS"…"``, ``env --split-string=…``: env splits the string into the
    command it runs (quotes kept together), followed by the words after it; that command is judged."""
    for i in range(min(prefix, len(words))):
        if normalise(words[i]) != "env":
            continue
        j = i + 1
        while j < len(words):
            word = words[j]
            attached = _ENV_SPLIT.fullmatch(word)
            long = long_option(word, (("--split-string", "--sp"),)) == "--split-string"
            if attached is not None or long:
                if attached is not None and attached.group(1):
                    string, rest = attached.group(1), words[j + 1 :]
                elif long and "=" in word:
                    string, rest = word.split("=", 1)[1], words[j + 1 :]
                else:
                    string, rest = (words[j + 1] if j + 1 < len(words) else ""), words[j + 2 :]
                command = ["env", *split_words(string), *rest]
                st.check_depth()
                st.depth += 1
                try:
                    from contop.security.posix import judge_words

                    judge_words(command, st, shlex.join(command))
                finally:
                    st.depth -= 1
                return
            if word in ("-u", "-C", "--unset", "--chdir"):
                j += 2
            elif word.startswith("-") or _ASSIGNED.fullmatch(word):
                j += 1
            else:
                break


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


_GIT_SETTINGS_RUN = "runs a command given in git's settings"
_GIT_COMMAND_KEYS = re.compile(
    r"core\.(editor|pager|sshcommand|gitproxy|askpass|alternaterefscommand|fsmonitor|hookspath)|sequence\.editor|"
    r"pager\..+|alias\..+|credential\.(.+\.)?helper|diff\.external|diff\..+\.(command|textconv)|merge\..+\.driver|"
    r"filter\..+\.(clean|smudge|process)|gpg\.(.+\.)?program|gpg\.ssh\.defaultkeycommand|"
    r"sendemail\.(.+\.)?(sendmailcmd|smtpserver|tocmd|cccmd|headercmd)|uploadpack\.packobjectshook|"
    r"remote\..+\.(uploadpack|receivepack)|include\.path|includeif\..+\.path|init\.templatedir|submodule\..+\.update|"
    r"(difftool|mergetool|man|browser)\..+\.(cmd|path)|web\.browser|interactive\.difffilter|trailer\..+\.(command|cmd)|"
    r"protocol\.(ext\.)?allow|url\..*ext::.*\.(push)?insteadof|instaweb\.httpd"
)
_GIT_BOOLEANS = frozenset({"", "true", "false", "yes", "no", "on", "off", "1", "0"})
_CREDENTIAL_HELPERS = re.compile(
    r"((store|cache|osxkeychain|manager|manager-core|libsecret|wincred|gnome-keyring|netrc)( --[a-z-]+(=\S+)?)*)?"
)


def _git_setting_runs(key: str, value: str | None) -> bool:
    """Whether git, given ``key=value`` (``value`` None when unknown), runs a command of the setting's choosing."""
    key = key.lower()
    if not _GIT_COMMAND_KEYS.fullmatch(key):
        return False
    if value is None:
        return True
    value = value.strip()
    if key.startswith(("alias.", "submodule.")):
        return value.startswith("!")  # an alias of other git commands, a checkout or a rebase
    if key.startswith("protocol."):
        return value.lower() in ("always", "user")  # the ext:: transport runs any command
    if key in ("core.pager", "core.editor", "sequence.editor") or key.startswith("pager."):
        return not (value.lower() in _GIT_BOOLEANS or plain_program(value))
    if key == "core.fsmonitor":
        return value.lower() not in _GIT_BOOLEANS  # true: git's own monitor
    if key.startswith("credential."):
        return not _CREDENTIAL_HELPERS.fullmatch(value)
    if key.startswith("gpg.") and key.endswith("program"):
        return normalise(value.split()[0]) not in ("gpg", "gpg2", "gpgsm", "ssh-keygen") if value else False
    return value not in ("", "/dev/null")


def _git_setting(spec: str, value: str | None, inv: Invocation, st: State, reason: str) -> None:
    """One setting given to git (``-c key=value``, ``git config key value``, GIT_CONFIG_KEY_0): a command it
    names asks first and is judged as a command; a folder of hooks or a file of settings is checked as a path."""
    key = spec.lower()
    if key == "core.sshcommand" and value is not None and _plain_ssh(value, inv, st):
        return
    if not _git_setting_runs(key, value):
        return
    st.add(CONFIRM, reason, inv.text)
    if not value or key.startswith(("protocol.", "url.")):
        return
    if key.endswith(("path", "templatedir")):
        st.check_paths([value], inv.text)
    else:
        _nested(value.strip().lstrip("!"), st)


def _git_options(args: list[str], inv: Invocation, st: State) -> int:
    """git's own options before its subcommand (``-c key=value``, ``--config-env=key=VAR``, ``--exec-path=…``);
    returns where the subcommand is."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        opt = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        if opt == "-c" or opt.startswith("--config-env"):
            spec = opt.split("=", 1)[1] if "=" in opt else value
            key, eq, setting = spec.partition("=")
            if opt == "-c":
                _git_setting(key, setting if eq else "true", inv, st, _GIT_SETTINGS_RUN)
            else:
                _git_setting(key, None, inv, st, _GIT_SETTINGS_RUN)  # the value is in a variable
        elif opt.startswith("--exec-path="):
            st.add(CONFIRM, "runs git's own programs from another folder", inv.text)
        valued = ("-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix",
                  "--list-cmds", "--attr-source")  # fmt: skip
        i += 2 if opt in valued else 1
    return i


_GIT_CONFIG_OTHER_MODES = ("--get", "--unset", "--remove-section", "--rename-section", "--list", "--edit")


def _git_config(rest: list[str], inv: Invocation, st: State) -> None:
    """``git config [--global] key value`` and ``git config set key value`` keep a setting for later commands."""
    operands: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg.startswith(_GIT_CONFIG_OTHER_MODES) or arg in ("-l", "-e"):
            return  # reads, removes or opens the settings in an editor
        if arg in ("-f", "--file", "--blob", "--type", "--default", "--comment", "--value", "-t"):
            i += 2
            continue
        if not arg.startswith("-"):
            operands.append(arg)
        i += 1
    if operands[:1] == ["set"]:
        operands = operands[1:]
    elif operands[:1] and operands[0] in ("get", "list", "unset", "remove-section", "rename-section", "edit"):
        return
    if len(operands) >= 2:
        _git_setting(operands[0], operands[1], inv, st, "changes which programs git runs")


_GIT_OWN_PROGRAM = re.compile(r"(\S*/)?git[- ](upload-pack|receive-pack|upload-archive)")


def _git_runs(sub: str, rest: list[str], inv: Invocation, st: State) -> None:
    """Commands that a subcommand's options give git to run: ``rebase --exec``, ``bisect run``, ``submodule
    foreach``, ``difftool -x``, ``grep -O<cmd>``, ``clone --upload-pack``, ``clone -c``…"""
    from contop.security.posix import judge_words

    if sub == "rebase":
        for command in option_values(rest, "-x", "--exec"):
            _nested(command, st)
    elif sub in ("difftool", "mergetool"):
        for command in option_values(rest, "-x", "--extcmd"):
            _nested(command, st)
    elif sub == "bisect" and rest[:1] == ["run"] and rest[1:]:
        judge_words(rest[1:], st, inv.text)
    elif sub == "submodule" and "foreach" in rest:
        words = rest[rest.index("foreach") + 1 :]
        while words and words[0].startswith("-"):
            words = words[1:]
        _nested(" ".join(words), st)
    elif sub == "grep":
        for arg in rest:
            if (arg.startswith("-O") and len(arg) > 2) or arg.startswith("--open-files-in-pager="):
                command = arg[2:] if arg.startswith("-O") else arg.split("=", 1)[1]
                if not plain_program(command):
                    runs_given_command(command, "git's", inv, st)
    if sub in ("clone", "fetch", "pull", "push", "ls-remote", "archive"):
        short = "-u" if sub == "clone" else ""
        for command in option_values(rest, short, "--upload-pack", "--receive-pack", "--exec"):
            if not _GIT_OWN_PROGRAM.fullmatch(command.strip()):
                runs_given_command(command, "git's", inv, st)
    if sub == "clone":
        for spec in option_values(rest, "-c", "--config"):
            key, _, value = spec.partition("=")
            _git_setting(key, value, inv, st, _GIT_SETTINGS_RUN)
        for template in option_values(rest, "", "--template"):
            if template.strip() not in ("", "/dev/null"):
                st.add(CONFIRM, "runs the hooks of a template folder given in git's options", inv.text)


def _git(inv: Invocation, st: State) -> None:
    args = inv.args
    i = _git_options(args, inv, st)
    if i >= len(args):
        return
    sub, rest = args[i], args[i + 1 :]
    _git_runs(sub, rest, inv, st)
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
    elif sub == "config":
        _git_config(rest, inv, st)


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
    if inv.name == "sqlite3":
        _sqlite(inv, st)
    elif inv.name in ("psql", "mysql", "mariadb"):
        _client_shell_escape(inv, st)
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


_SQLITE_VALUED = frozenset({"-cmd", "-init", "-separator", "-newline", "-nullvalue", "-vfs", "-maxsize", "-mmap",
                            "-escape", "-lookaside", "-pagecache", "-heap"})  # fmt: skip
# sqlite3 dot-commands that run, load, read or write something (any abbreviation names them, as sqlite3 reads it).
_SQLITE_DOTS = ("shell", "system", "output", "once", "read", "import", "load", "save", "backup", "restore", "open",
                "log", "trace", "iotrace")  # fmt: skip
_SQLITE_FILE_FUNCTION = re.compile(r"\b(readfile|writefile|lsdir)\s*\(\s*(?:'((?:[^']|'')*)'|\"([^\"]*)\")", re.I)
_SQLITE_EDIT = re.compile(r"\bedit\s*\(", re.I)
_SQLITE_FILE_SQL = re.compile(
    r"\b(attach(?:\s+database)?|vacuum(?:\s+\w+)?\s+into)\s+(?:'((?:[^']|'')*)'|\"([^\"]*)\")", re.I
)


def _sqlite(inv: Invocation, st: State) -> None:
    """The sqlite3 shell runs each argument after the database (and -cmd's, and its input) as SQL or as a
    dot-command: ``.shell`` and ``.system`` run a command, ``.output FILE`` writes a file, ``.read FILE`` reads
    one; -safe turns all of that off."""
    args = inv.args
    texts: list[str] = []
    database_seen = False
    i = 0
    while i < len(args):
        arg = args[i]
        option = arg[1:] if arg.startswith("--") else arg
        following = args[i + 1] if i + 1 < len(args) else ""
        if option == "-safe":
            return
        if option == "-cmd":
            texts.append(following)
        elif option == "-init":
            init = script_text(following, st)
            if init is None:
                st.add(CONFIRM, "runs sqlite3 commands whose text cannot be known in advance", inv.text)
            else:
                texts += init.splitlines()
        if option in _SQLITE_VALUED:
            i += 2
            continue
        if not arg.startswith("-"):
            if database_seen:
                texts.append(arg)
            database_seen = True
        i += 1
    stdin = _stdin_text(inv, st)
    texts += stdin.splitlines() if stdin else []
    for text in texts:
        sqlite_text(text, inv, st)


def sqlite_text(text: str, inv: Invocation, st: State, depth: int = 0) -> None:
    """One argument or input line for the sqlite3 shell: a dot-command, or SQL whose functions may read or write
    files (readfile, writefile), run an editor (edit) or load a library (load_extension)."""
    if not text.startswith("."):
        _sqlite_sql(text, inv, st)
        return
    words = split_words(text[1:].replace("\n", " "))
    if not words:
        return
    given, rest = words[0].lower(), words[1:]
    names = {full for full in _SQLITE_DOTS if full.startswith(given)}
    files = [w for w in rest if not w.startswith("-")]
    if names & {"shell", "system"}:
        st.add(CONFIRM, "runs a shell command from sqlite3", inv.text)
        _nested(" ".join(rest), st)
    if "load" in names:
        st.add(CONFIRM, "loads a library into sqlite3", inv.text)
    target = files[0] if files else ""
    if target.startswith("|") and names & {"output", "once", "read", "import", "log", "trace", "iotrace"}:
        st.add(CONFIRM, "runs a shell command from sqlite3", inv.text)
        _nested(" ".join([target[1:], *files[1:]]), st)
        return
    if names & {"output", "once", "save", "backup", "log", "trace", "iotrace"} and files:
        target = files[-1] if names & {"save", "backup"} else target
        if target not in ("stdout", "stderr", "off"):
            writes_file(target, False, inv, st)
    if names & {"read", "import", "restore", "open", "load"} and files:
        st.check_paths(files, inv.text)
    if "read" in names and files and depth < 4:
        script = script_text(files[0], st)
        if script is None:
            st.add(CONFIRM, "runs sqlite3 commands whose text cannot be known in advance", inv.text)
        for line in (script or "").splitlines():
            sqlite_text(line, inv, st, depth + 1)


def _sqlite_sql(sql: str, inv: Invocation, st: State) -> None:
    lowered = sql.lower()
    if _SQLITE_EDIT.search(sql):
        st.add(CONFIRM, "runs an editor or another program from sqlite3", inv.text)
    if "load_extension" in lowered:
        st.add(CONFIRM, "loads a library into sqlite3", inv.text)
    for match in _SQLITE_FILE_FUNCTION.finditer(sql):
        path = (match.group(2) or "").replace("''", "'") or match.group(3) or ""
        if match.group(1).lower() == "writefile":
            writes_file(path, False, inv, st)
        else:
            st.check_paths([path], inv.text)
    for match in _SQLITE_FILE_SQL.finditer(sql):
        path = (match.group(2) or "").replace("''", "'") or match.group(3) or ""
        st.check_paths([path], inv.text)
        if match.group(1).lower().startswith("vacuum"):
            writes_file(path, False, inv, st)


_CLIENT_SHELL_ESCAPE = re.compile(r"\\!|\\[ogw]\s*\||\\copy\b.*\bprogram\b|^\s*system\s", re.IGNORECASE | re.MULTILINE)


def _client_shell_escape(inv: Invocation, st: State) -> None:
    """psql's ``\\!``, ``\\o |cmd`` and ``\\copy … program``, mysql's ``\\!`` and ``system``: a shell command run
    from the database client, in its arguments or its input."""
    stdin = _stdin_text(inv, st) or ""
    if any(_CLIENT_SHELL_ESCAPE.search(text) for text in (*inv.args, stdin)):
        st.add(CONFIRM, "runs a shell command from the database client", inv.text)


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
    if inv.name == "rsync":
        _rsync_shell(inv, st)
    else:
        _ssh(inv, st)
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


# ssh-family options with a value: -o ProxyCommand=…, -F config, -E log, -I library, -S program, -D server
_SSH_VALUED = {"ssh": "BbcDEeFIiJLlmOoPpQRSWw", "scp": "cDFiJlOoPSX", "sftp": "BbcDFiJloPRSsX"}
_SSH_RUNS = ("proxycommand", "localcommand", "knownhostscommand", "permitlocalcommand")
_SSH_LIBRARY = ("pkcs11provider", "securitykeyprovider")
_SSH_CONFIG_RUNS = re.compile(r"^\s*(proxycommand|localcommand|knownhostscommand|match\s.*\bexec)\b", re.I | re.M)


def _ssh_options(inv: Invocation, st: State) -> list[tuple[str, str]]:
    """ssh's, scp's or sftp's short options with their values (``-oProxyCommand=…``, ``-vo X``)."""
    valued = _SSH_VALUED.get(inv.name, _SSH_VALUED["ssh"])
    found: list[tuple[str, str]] = []
    args = inv.args
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--" or not arg.startswith("-") or len(arg) < 2:
            if inv.name == "ssh":
                break  # the host: what follows is the remote command
            i += 1
            continue
        for k, letter in enumerate(arg[1:], 1):
            if letter in valued:
                value = arg[k + 1 :]
                if not value and i + 1 < len(args):
                    value, i = args[i + 1], i + 1
                found.append((letter, value))
                break
        i += 1
    return found


def _ssh(inv: Invocation, st: State) -> None:
    """``ssh -o ProxyCommand=…`` (and LocalCommand, KnownHostsCommand) runs a command on this computer; a
    config file (-F) may set the same; -E appends ssh's log to a file; -I and the provider options load a
    library; scp's and sftp's -S (and sftp's -D) name the program to run instead of ssh."""
    whose = f"{inv.name}'s"
    for letter, value in _ssh_options(inv, st):
        if letter == "o":
            key, _, setting = value.replace("=", " ", 1).partition(" ")
            key, setting = key.strip().lower(), setting.strip()
            if key in _SSH_RUNS and setting.lower() not in ("", "none", "no"):
                st.add(CONFIRM, f"runs a command given in {whose} options", inv.text)
                if key != "permitlocalcommand":
                    _nested(setting, st)
            elif key in _SSH_LIBRARY and setting.lower() not in ("", "none", "internal"):
                st.add(CONFIRM, f"loads a library given in {whose} options", inv.text)
        elif letter == "F" and value not in ("/dev/null", "none"):
            text = script_text(value, st)
            if text is None or _SSH_CONFIG_RUNS.search(text):
                st.add(CONFIRM, f"runs a command given in {whose} options", inv.text)
        elif letter == "E" and inv.name == "ssh":
            writes_file(value, True, inv, st)
        elif letter == "I" and inv.name == "ssh":
            st.add(CONFIRM, f"loads a library given in {whose} options", inv.text)
        elif (letter == "S" and inv.name != "ssh") or (letter == "D" and inv.name == "sftp"):
            if normalise(value) != "ssh" and not value.startswith(("/usr/lib/", "/usr/libexec/")):
                runs_given_command(value, whose, inv, st)


def _rsync_shell(inv: Invocation, st: State) -> None:
    """``rsync -e 'sh -c …'`` runs that command instead of ssh; ``-e 'ssh -o ProxyCommand=…'`` is judged as ssh."""
    values = option_values(inv.args, "", "--rsh")
    for arg_i, arg in enumerate(inv.args):
        if arg.startswith("-") and not arg.startswith("--") and "e" in arg[1:]:
            k = arg.index("e")
            value = arg[k + 1 :] or (inv.args[arg_i + 1] if arg_i + 1 < len(inv.args) else "")
            values.append(value)
    for value in values:
        if not _plain_ssh(value, inv, st) and normalise(split_words(value)[0] if split_words(value) else "") != "rsh":
            runs_given_command(value, "rsync's", inv, st)


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
    ("-H", ("--header",), _AT_FILE),  # headers read from a file are sent
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
        _tar(inv, st)
        return
    if inv.name == "zip":
        _zip(inv, st)
    creating = (inv.name == "zip" and any(re.fullmatch(r"-[a-zA-Z]*r[a-zA-Z]*", a) for a in args)) or (
        inv.name in ("7z", "7za") and args[:1] == ["a"]
    )
    if creating:
        _, operands = split_opts(without_exclusions(args[1:] if inv.name != "zip" else args, zip_style=True))
        reads_whole_tree(operands[1:], inv, st)


_TAR_VALUED_LETTERS = "fCTXbKNVgLFIH"  # short options that take the next word
_TAR_COMMANDS = frozenset({"--to-command", "--checkpoint-action", "--use-compress-program", "--info-script",
                           "--new-volume-script", "--rmt-command", "--rsh-command"})  # fmt: skip
_TAR_VALUED_LONG = frozenset({"--file", "--directory", "--files-from", "--exclude", "--exclude-from",
                              "--transform", "--xform", "--owner", "--group", "--mode", "--label", "--newer",
                              "--after-date", "--index-file", "--exclude-tag", *_TAR_COMMANDS})  # fmt: skip
_TAR_LONG = (("--to-command", "--to-c"), ("--checkpoint-action", "--checkpoint-"), ("--use-compress-program", "--use-"),
             ("--info-script", "--info"), ("--new-volume-script", "--new-"), ("--rmt-command", "--rmt"),
             ("--rsh-command", "--rsh"), ("--remove-files", "--rem"), ("--create", "--cr"), ("--append", "--ap"),
             ("--update", "--up"))  # fmt: skip
_COMPRESSOR = re.compile(
    r"(\S*/)?(gzip|gunzip|bzip2|xz|lzma|lzip|lzop|zstd|zstdmt|unzstd|lz4|pigz|unpigz|pbzip2|lbzip2|pixz|plzip|"
    r"brotli|compress)( +(-{1,2}[\w=.-]*|\d+))*"
)


def _tar_options(args: list[str]) -> list[tuple[str, str]]:
    """tar's options with their values, long ones spelled in full: ``-czf out.tgz`` gives ``-c``, ``-z`` and
    ``-f out.tgz``; old-style ``cfI out.tar zstd``, attached ``-Izstd`` and abbreviated ``--to-com=…`` alike."""
    found: list[tuple[str, str]] = []
    words = list(args)
    pending: list[str] = []
    if words and not words[0].startswith("-"):  # old style: the bundle's values follow in order
        found += [("-" + c, "") for c in words[0] if c not in _TAR_VALUED_LETTERS]
        pending = [c for c in words[0] if c in _TAR_VALUED_LETTERS]
        words = words[1:]
    i = 0
    while i < len(words):
        word = words[i]
        if pending:
            found.append(("-" + pending.pop(0), word))
        elif word == "--":
            break
        elif word.startswith("--"):
            name = long_option(word, _TAR_LONG)
            value = word.split("=", 1)[1] if "=" in word else ""
            if "=" not in word and name in _TAR_VALUED_LONG and i + 1 < len(words):
                value, i = words[i + 1], i + 1
            found.append((name, value))
        elif word.startswith("-") and len(word) > 1:
            for k, letter in enumerate(word[1:], 1):
                if letter in _TAR_VALUED_LETTERS:
                    value = word[k + 1 :]
                    if not value and i + 1 < len(words):
                        value, i = words[i + 1], i + 1
                    found.append(("-" + letter, value))
                    break
                found.append(("-" + letter, ""))
        i += 1
    return found


def _tar(inv: Invocation, st: State) -> None:
    """A command tar runs (--to-command, --checkpoint-action=exec=, -I, -F), what it reads when it creates an
    archive, and --remove-files, which deletes what it archived."""
    options = _tar_options(inv.args)
    names = {name for name, _ in options}
    for name, value in options:
        if name == "--checkpoint-action":
            if value.startswith("exec="):
                runs_given_command(value[5:], "tar's", inv, st)
        elif name in ("--use-compress-program", "-I"):
            if not _COMPRESSOR.fullmatch(value.strip()):
                runs_given_command(value, "tar's", inv, st)
        elif name in _TAR_COMMANDS or name == "-F":
            runs_given_command(value, "tar's", inv, st)
    roots = _tar_inputs(inv.args, creating=bool(names & {"-c", "--create"}))
    if roots is not None:
        reads_whole_tree(roots, inv, st)
    if names & {"-x", "--extract", "--get"}:
        writes_whole_tree(_option_value(inv.args, "-C", "--directory") or ".", inv, st)
    if "--remove-files" in names and names & {"-c", "--create", "-r", "--append", "-u", "--update"}:
        judge_deletion(_tar_inputs(inv.args, creating=True) or ["."], True, inv, st)


def _option_value(args: list[str], short: str, long: str) -> str | None:
    """The last value given as ``-C DIR``, ``-CDIR``, ``--directory DIR`` or ``--directory=DIR``."""
    found = None
    for i, arg in enumerate(args):
        if arg in (short, long) and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(long + "="):
            found = arg.split("=", 1)[1]
        elif arg.startswith(short) and len(arg) > len(short) and not arg.startswith("--"):
            found = arg[len(short) :]
    return found


def _unzip(inv: Invocation, st: State) -> None:
    writes_whole_tree(_option_value(inv.args, "-d", "--directory") or ".", inv, st)


def _tar_inputs(args: list[str], *, creating: bool) -> list[str] | None:
    """What ``tar`` archives when it creates one (None otherwise), each as seen from its ``-C`` folder."""
    if not args or not creating:
        return None
    words = list(args)
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


_ZIP_VALUED = frozenset({"-b", "-n", "-t", "-tt", "-P", "-Z", "-O", "-s", "-ds", "-lf", "-TT", "--unzip-command",
                         "--temp-path", "--suffixes", "--password", "--compression-method", "--output-file",
                         "--split-size", "--logfile-path", "--after-date", "--before-date", "--dot-size"})  # fmt: skip


def _zip(inv: Invocation, st: State) -> None:
    """zip -TT runs the command it is given to test the archive; -m moves the files in, deleting them."""
    for command in option_values(inv.args, "-TT", "--unzip-command"):
        runs_given_command(command, "zip's", inv, st)
    moving = False
    operands: list[str] = []
    skip = listing = False
    for arg in inv.args:
        if skip:
            skip = False
        elif arg in _ZIP_VALUED or arg.split("=", 1)[0] in _ZIP_VALUED:
            skip = "=" not in arg
        elif arg in ("-x", "-i", "--exclude", "--include"):
            listing = True  # patterns follow up to the next option
        elif arg.startswith("-") and len(arg) > 1:
            listing = False
            moving = moving or arg == "--move" or (not arg.startswith("--") and "m" in arg[1:])
        elif not listing:
            operands.append(arg)
    if moving:
        judge_deletion(operands[1:] or ["."], any(re.fullmatch(r"-[a-zA-Z]*r[a-zA-Z]*", a) for a in inv.args), inv, st)


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


# Vim's Ex commands by full name and shortest abbreviation (``:help :w``: ``w[rite]``).
_VIM_READS = (("read", "r"), ("edit", "e"), ("split", "sp"), ("vsplit", "vs"), ("new", "new"), ("vnew", "vne"),
              ("tabedit", "tabe"), ("tabnew", "tabnew"), ("view", "vie"), ("sview", "sv"), ("badd", "bad"),
              ("args", "ar"), ("visual", "vi"), ("diffsplit", "diffs"), ("find", "fin"), ("sfind", "sf"))  # fmt: skip
_VIM_WRITES = (("write", "w"), ("wq", "wq"), ("xit", "x"), ("exit", "exi"), ("update", "up"), ("saveas", "sav"),
               ("wnext", "wn"), ("wprevious", "wp"), ("redir", "redi"), ("mksession", "mks"), ("mkexrc", "mk"),
               ("mkvimrc", "mkv"), ("mkview", "mkvie"), ("wviminfo", "wv"), ("wshada", "wsh"), ("wundo", "wu"),
               ("wall", "wa"), ("wqall", "wqa"), ("xall", "xa"))  # fmt: skip
_VIM_CODE = (("python", "py"), ("py3", "py3"), ("python3", "python3"), ("pyx", "pyx"), ("pythonx", "pythonx"),
             ("pyfile", "pyf"), ("py3file", "py3f"), ("pyxfile", "pyxf"), ("pydo", "pyd"), ("py3do", "py3d"),
             ("pyxdo", "pyxd"), ("lua", "lua"), ("luafile", "luaf"), ("luado", "luad"), ("perl", "pe"),
             ("perldo", "perld"), ("ruby", "rub"), ("rubyfile", "rubyf"), ("rubydo", "rubyd"), ("tcl", "tc"),
             ("tclfile", "tclf"), ("tcldo", "tcld"), ("mzscheme", "mz"), ("mzfile", "mzf"), ("call", "cal"),
             ("execute", "exe"), ("terminal", "ter"), ("shell", "sh"), ("make", "mak"), ("lmake", "lmak"),
             ("grep", "gr"), ("lgrep", "lgr"), ("grepadd", "grepa"), ("lgrepadd", "lgrepa"),
             ("diffpatch", "diffp"), ("cscope", "cs"), ("lcscope", "lcs"), ("source", "so"), ("runtime", "ru"),
             ("autocmd", "au"), ("function", "fu"), ("def", "def"), ("vim9cmd", "vim9"), ("command", "com"),
             ("doautocmd", "do"))  # fmt: skip
# Commands whose argument is an expression (code when it calls a function), a substitution (code after \\=) or
# options (code in the ones that name a program or an expression: makeprg, foldexpr, shell…).
_VIM_CALLS = (("let", "let"), ("eval", "ev"), ("echo", "ec"), ("echon", "echon"), ("echomsg", "echom"),
              ("echoerr", "echoe"), ("const", "cons"), ("if", "if"), ("while", "wh"), ("for", "for"),
              ("return", "retu"))  # fmt: skip
_VIM_SUBSTITUTE = (("substitute", "s"), ("&", "&"), ("~", "~"), ("smagic", "sm"), ("snomagic", "sno"))
_VIM_SET = (("set", "se"), ("setlocal", "setl"), ("setglobal", "setg"))
# Commands that run the rest of the line (modifiers), or another command on matching lines or in every window.
_VIM_MODIFIERS = (("silent", "sil"), ("unsilent", "uns"), ("noautocmd", "noa"), ("keepjumps", "keepj"),
                  ("keepmarks", "kee"), ("keepalt", "keepa"), ("keeppatterns", "keepp"), ("lockmarks", "loc"),
                  ("verbose", "verb"), ("vertical", "vert"), ("topleft", "to"), ("botright", "bo"),
                  ("aboveleft", "abo"), ("belowright", "bel"), ("leftabove", "lefta"), ("rightbelow", "rightb"),
                  ("tab", "tab"), ("sandbox", "san"), ("confirm", "conf"), ("browse", "bro"), ("legacy", "leg"),
                  ("hide", "hid"), ("horizontal", "hor"), ("windo", "windo"), ("bufdo", "bufdo"),
                  ("argdo", "argdo"), ("tabdo", "tabdo"), ("cdo", "cdo"), ("ldo", "ldo"), ("cfdo", "cfdo"),
                  ("lfdo", "lfdo"))  # fmt: skip
_VIM_GLOBAL = (("global", "g"), ("vglobal", "v"))
_VIM_RANGE = re.compile(r"(?:[%.$,;\s]|\d+|'[a-zA-Z<>\[\]]|/(?:\\.|[^/])*/?|\?(?:\\.|[^?])*\??|[+-]\d*)*")
_VIM_NAME = re.compile(r"([A-Za-z]+[0-9]?[A-Za-z]*|[!&~])(!?)\s*")
_VIM_CALL = re.compile(r"\w\s*\(")
_VIM_CODE_OPTION = re.compile(r"(prg|expr|func|shell\w*|cmd)\s*[+^-]?=", re.IGNORECASE)
_VIM_CODE_REASON = "runs code from the editor"


def _vim_is(name: str, table: tuple[tuple[str, str], ...]) -> str | None:
    for full, least in table:
        if len(name) >= len(least) and full.startswith(name):
            return full
    return None


def _vim(inv: Invocation, st: State) -> None:
    """Vim's startup commands (``-c``, ``+``, ``--cmd``) that read or write files or run code, and the options
    that run a script (-S, -u, -s) or write a file (-i, -w, -W)."""
    ex_mode = inv.name == "ex" or any(re.fullmatch(r"-[a-zA-Z]*[eE][a-zA-Z]*", a) for a in inv.args)
    lines: list[str] = []
    files: list[str] = []
    args = inv.args
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else None
        if arg in ("-c", "--cmd") and following is not None:
            lines.append(following)
            i += 1
        elif arg.startswith("+") and len(arg) > 1 and not arg[1:].isdigit() and arg[1] not in "/?":
            lines.append(arg[1:])
        elif arg.startswith(("--remote-send", "--remote-expr")):
            st.add(CONFIRM, _VIM_CODE_REASON, inv.text)  # keys or an expression for another running Vim
        elif arg in ("-S", "-u", "-U", "-s", "-i", "-w", "-W", "-T", "-t", "-q") and following is not None:
            if arg == "-S" or (arg in ("-u", "-U") and following not in ("NONE", "NORC", "DEFAULTS")):
                st.add(CONFIRM, _VIM_CODE_REASON, inv.text)  # a script of editor commands, which can run anything
            elif arg == "-s" and not ex_mode:
                st.add(CONFIRM, _VIM_CODE_REASON, inv.text)  # keys typed from a file
            elif arg in ("-i", "-W") and following != "NONE":
                writes_file(following, False, inv, st)
            elif arg == "-w" and not following.isdigit():
                writes_file(following, True, inv, st)
            if arg != "-s" or not ex_mode:
                i += 1
        elif not arg.startswith(("-", "+")):
            files.append(arg)
        i += 1
    for line in lines:
        _vim_line(line, files, inv, st, 0)


def _vim_line(line: str, files: list[str], inv: Invocation, st: State, depth: int) -> None:
    """One Ex command line: commands separated by ``|``, each after its range (``1,$``, ``'<,'>``, ``/re/``)."""
    rest = line
    while rest and depth < 8:
        rest = rest.lstrip(" \t:")
        ranged = _VIM_RANGE.match(rest)
        rest = rest[ranged.end() :].lstrip(" \t:") if ranged is not None else rest
        match = _VIM_NAME.match(rest)
        if match is None:
            return
        name, bang = match.group(1), match.group(2)
        whole = rest[match.end() :]
        if name == "!":
            st.add(CONFIRM, "runs a shell command from the editor", inv.text)
            _nested(bang + whole, st)
            return
        if _vim_is(name, _VIM_MODIFIERS) is not None:
            rest = whole
            continue
        if _vim_is(name, _VIM_GLOBAL) is not None and whole[:1] and not whole[0].isalnum() and whole[0] not in '"|':
            end = _sed_delimited(whole, 1, whole[0], brackets=False)
            rest = whole[end:] if end > 0 else ""
            depth += 1
            continue
        argument, _, rest = whole.partition("|") if _vim_is(name, _VIM_CODE) is None else (whole, "", "")
        _vim_command(name, bang, argument.strip(), files, inv, st)


def _vim_command(name: str, bang: str, argument: str, files: list[str], inv: Invocation, st: State) -> None:
    if _vim_is(name, _VIM_CODE) is not None:
        st.add(CONFIRM, _VIM_CODE_REASON, inv.text)
        return
    if (
        (_vim_is(name, _VIM_CALLS) is not None and _VIM_CALL.search(argument))
        or (_vim_is(name, _VIM_SUBSTITUTE) is not None and "\\=" in argument)
        or (_vim_is(name, _VIM_SET) is not None and _VIM_CODE_OPTION.search(argument))
    ):
        st.add(CONFIRM, _VIM_CODE_REASON, inv.text)
        return
    words = [w for w in argument.split() if not w.startswith("++")]  # '++enc=utf8' and the like
    target = " ".join(words)
    if _vim_is(name, _VIM_READS) is not None:
        if target.startswith("!"):  # ':r !cmd' reads what a command prints
            st.add(CONFIRM, "runs a shell command from the editor", inv.text)
            _nested(target[1:], st)
        elif words:
            st.check_paths(words, inv.text)
        return
    full = _vim_is(name, _VIM_WRITES)
    if full is None:
        return
    if full == "redir":
        if target.startswith(">") and not target.startswith("=>"):
            append = target.startswith(">>")
            writes_file(target.lstrip(">").strip(), append, inv, st)
        return
    if target.startswith("!"):  # ':w !cmd' feeds the text to a command
        st.add(CONFIRM, "runs a shell command from the editor", inv.text)
        _nested(target[1:], st)
    elif target.startswith(">>"):
        writes_file(target[2:].strip(), True, inv, st)
    elif target and not target.isdigit():
        writes_file(target, False, inv, st)
    elif full in ("write", "wq", "xit", "exit", "update", "wnext", "wprevious", "wall", "wqall", "xall"):
        for f in files:  # the files being edited are written back
            _edits_in_place(f, inv, st)


def _trap(inv: Invocation, st: State) -> None:
    """``trap 'CMD' EXIT``: CMD runs when the shell gets the signal (at its end, for EXIT), judged as eval is."""
    args = inv.args
    while args and args[0].startswith("-") and args[0] != "-":
        if args[0] == "--":
            args = args[1:]
            break
        if args[0] in ("-l", "-p", "-P"):
            return
        args = args[1:]
    if len(args) >= 2 and args[0] != "-":
        _nested(args[0], st)


_GDB_VALUED = frozenset({"ex", "iex", "x", "ix", "p", "c", "s", "e", "se", "d", "cd", "b", "l", "D", "tty", "i",
                         "interpreter", "pid", "core", "exec", "symbols", "command", "directory", "init-command",
                         "eval-command", "init-eval-command", "data-directory"})  # fmt: skip
_LLDB_VALUED = frozenset({"p", "attach-pid", "n", "attach-name", "o", "one-line", "O", "one-line-before-file", "s",
                          "source", "S", "source-before-file", "k", "one-line-on-crash", "K", "source-on-crash", "c",
                          "core", "a", "arch", "f", "file", "l", "script-language"})  # fmt: skip
_DEBUGGER_SHELL = frozenset({"shell", "pipe", "python", "py", "pi", "python-interactive", "source", "script",
                             "platform", "command", "guile", "gu", "gr"})  # fmt: skip


def _debugger(inv: Invocation, st: State) -> None:
    """gdb -p, strace -p, gcore: another running program's memory, where the server keeps its API keys; and the
    commands given to gdb or lldb that run a shell command or a script."""
    args = inv.args
    attach = False
    if inv.name in ("strace", "ltrace"):
        attach = any(re.fullmatch(r"-[cCdDfFhiknqrtTvVwxyzZ]*p.*|--attach(=.*)?|--pid(=.*)?", a) for a in args)
    elif inv.name == "gdbserver":
        attach = "--attach" in args
    else:
        valued = _LLDB_VALUED if inv.name == "lldb" else _GDB_VALUED
        options: list[tuple[str, str]] = []
        operands: list[str] = []
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--args":
                operands += args[i + 1 : i + 2]  # the program; the rest are its arguments
                break
            if arg.startswith("-") and len(arg) > 1:
                name, eq, value = arg.lstrip("-").partition("=")
                if not eq and name in valued:
                    value, i = (args[i + 1] if i + 1 < len(args) else ""), i + 1
                options.append((name, value))
            else:
                operands.append(arg)
            i += 1
        if inv.name == "gcore":
            attach = bool(operands)
        elif inv.name == "lldb":
            attach = any(n in ("p", "attach-pid", "n", "attach-name", "w", "wait-for") for n, _ in options)
        else:  # 'gdb -p 1234', 'gdb prog 1234', 'gdb -c 1234'
            attach = any(n in ("p", "pid") or (n in ("c", "core") and v.isdigit()) for n, v in options)
            attach = attach or (len(operands) >= 2 and operands[1].isdigit())
        for name, value in options:
            line = value.strip()
            word = line.split(" ", 1)[0].lower()
            if name in ("x", "ix", "command", "init-command", "s", "source", "S", "source-before-file") and (
                inv.name == "lldb" or name not in ("s", "S")
            ):
                st.add(CONFIRM, "runs a script of debugger commands", inv.text)
                continue
            if name not in ("ex", "iex", "eval-command", "init-eval-command", "o", "one-line", "O", "k", "K"):
                continue
            if word in ("attach", "at") or line.startswith("process attach"):
                attach = True
            elif line.startswith(("!", "|")) or word in _DEBUGGER_SHELL:
                st.add(CONFIRM, "runs a shell command from the debugger", inv.text)
                if line.startswith("!") or word == "shell":
                    _nested(line[1:] if line.startswith("!") else line[len(word) :], st)
    if attach:
        st.add(CONFIRM, "reads another running program's memory", inv.text)


def _mshta_like(inv: Invocation, st: State) -> None:
    st.add(BLOCK, f"runs a script through {inv.name}, a common way to run downloaded code", inv.text)


RULES: dict[str, Rule] = {
    "rm": _rm, "unlink": _rm, "rmdir": _rm, "srm": _rm, "wipe": _shred, "shred": _shred,
    "find": _find, "mv": _mv, "cp": _cp, "install": _cp, "ln": _ln, "sort": _sort,
    "httpd": _web_server, "http-server": _web_server, "npx": _npx,
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
    "tar": _archive, "zip": _archive, "7z": _archive, "7za": _archive, "unzip": _unzip,
    "mshta": _mshta_like, "bitsadmin": _mshta_like,
    "ssh": _ssh, "trap": _trap,
    "gdb": _debugger, "gdb-multiarch": _debugger, "gdbserver": _debugger, "lldb": _debugger, "gcore": _debugger,
    "strace": _debugger, "ltrace": _debugger,
}  # fmt: skip
for _name in _PKG_REMOVE:
    RULES.setdefault(_name, _package)
RULES["pacman"] = _package
RULES["brew"] = _package
RULES["pip"] = _package
for _name in ("vi", "vim", "nvim", "ex", "view", "gvim", "rvim", "vimdiff", "gview", "evim"):
    RULES[_name] = _vim


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
    _line_variables(inv, st)  # before the help flags: 'PAGER=… git --help' runs the pager
    if any(a in HELP_FLAGS for a in inv.args):
        return
    rule = RULES.get(inv.name)
    if rule is not None:
        rule(inv, st)
