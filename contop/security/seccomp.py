"""A seccomp filter for the bubblewrap sandbox: no new namespaces and none of the kernel's riskiest interfaces.

Without it, a sandboxed command could create user namespaces of its own (``unshare -Ur`` makes it root in one),
which opens the kernel surface most local privilege escalations go through (nf_tables, mounts, keyrings). The
filter answers ``EPERM`` to ``unshare``, ``setns``, ``mount``, ``clone`` with a namespace flag, the keyring, BPF,
``perf_event_open``, ``userfaultfd`` and io_uring; ``clone3``, whose flags it cannot read, gets ``ENOSYS`` so that
the C library falls back to ``clone``. Calls through another ABI (32-bit, x32) are refused as a whole.

The program is classic BPF as ``bwrap --seccomp FD`` reads it (``struct sock_filter`` array), built here for
x86-64 and aarch64; on other machines there is no filter (``program()`` returns None) and the sandbox says so.
"""

from __future__ import annotations

import errno
import platform
import struct

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6] (little-endian machines)
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
ALLOW = 0x7FFF0000
ERRNO = 0x00050000
X32_BIT = 0x40000000

# clone flags that make a namespace: NEWNS NEWCGROUP NEWUTS NEWIPC NEWUSER NEWPID NEWNET (and NEWTIME)
NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80

_REFUSED = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
)  # fmt: skip

# Per machine: (AUDIT_ARCH value, syscall numbers). Generic numbers (aarch64) lack umount2's old twin etc.
_TABLES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "clone": 56, "clone3": 435, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166,
            "pivot_root": 155, "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsmount": 432,
            "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298,
            "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "clone": 220, "clone3": 435, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39,
            "pivot_root": 41, "move_mount": 429, "open_tree": 428, "fsopen": 430, "fsmount": 432,
            "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241,
            "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        },
    ),
}  # fmt: skip


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes | None:
    """The filter for ``machine`` (default: this one) as ``bwrap --seccomp`` reads it, or None when unknown."""
    table = _TABLES.get(machine or platform.machine())
    if table is None:
        return None
    arch, numbers = table
    deny = ERRNO | errno.EPERM
    body: list[bytes] = []
    # Each refused call: "if nr == N: return EPERM" as a jump over the next instruction.
    for name in _REFUSED:
        body += [_insn(_JEQ, numbers[name], 0, 1), _insn(_RET, deny)]
    body += [_insn(_JEQ, numbers["clone3"], 0, 1), _insn(_RET, ERRNO | errno.ENOSYS)]
    # clone: refused when its flags (argument 0, low word) ask for a namespace.
    body += [
        _insn(_JEQ, numbers["clone"], 0, 3),
        _insn(_LD_ABS, _ARG0_LOW),
        _insn(_JSET, NAMESPACE_FLAGS, 0, 1),
        _insn(_RET, deny),
        _insn(_RET, ALLOW),
    ]
    head = [
        _insn(_LD_ABS, _ARCH),
        _insn(_JEQ, arch, 1, 0),
        _insn(_RET, deny),  # another ABI: its numbers differ, so none of it
        _insn(_LD_ABS, _NR),
    ]
    if arch == 0xC000003E:
        head += [_insn(_JGE, X32_BIT, 0, 1), _insn(_RET, deny)]  # the x32 ABI shares the x86-64 arch value
    return b"".join(head + body)
