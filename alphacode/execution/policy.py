"""The seccomp policy: which system calls a sandboxed process may not make.

A deny list on top of namespaces, an unprivileged uid and rlimits (defence in depth, see
``docs/sandbox.md``). Denied calls kill the process with SIGSYS, which the sandbox reports as
``SANDBOX_VIOLATION``. Besides calls an escape would need, it denies the ways a program could forge
what the sandbox observes: sending itself ``SIGXFSZ`` (or having the kernel send it, through a
timer, ``F_SETSIG`` or a lowered ``RLIMIT_FSIZE``), or installing its own seccomp filter or syscall
dispatch (whose kills look like the sandbox's), or growing pipe buffers (kernel memory outside the measured
peak). Three profiles:

* ``python``: no new processes (threads are fine) and no exec, since the program runs inside a
  forked interpreter;
* ``cpp``: as ``python``, but one execve is allowed: the one whose path pointer is the sandbox's
  own buffer (``exec_address``), which starts the compiled binary;
* ``compile``: g++ needs fork and exec; everything else stays denied.
"""

from __future__ import annotations

import errno
import os
import signal
import tempfile

from alphacode.execution._linux import CLONE_THREAD

# Calls no contest program or compiler needs, and that an escape would: kernel and namespace
# administration, tracing other processes, identity changes, raw devices, networking.
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "reboot",
    "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "iopl", "ioperm", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "name_to_handle_at", "open_by_handle_at", "quotactl", "syslog", "lookup_dcookie", "vhangup",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
    "setfsuid", "setfsgid", "capset", "mknod", "mknodat", "fanotify_init", "personality",
    # System V IPC objects outlive the process that made them (and its memory limit)
    "shmget", "shmat", "shmdt", "shmctl", "msgget", "msgsnd", "msgrcv", "msgctl",
    "semget", "semop", "semtimedop", "semctl",
    "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    # the CPU's descriptor tables, ancient library loading, other processes' memory and quotas
    "modify_ldt", "uselib", "process_mrelease", "quotactl_fd",
    # a program's own filter or syscall dispatch kills with SIGSYS, and timers deliver any signal it names
    "seccomp", "timer_create",
)
# Calls libseccomp 2.5 cannot name yet, by x86-64 number: mount information (statmount, listmount) and
# open_tree_attr.
DENIED_NUMBERS = (457, 458, 467)
# (call, index of its signal argument): no program may send itself SIGXFSZ, the output limit's signal.
SIGNALLING = (("kill", 1), ("tkill", 1), ("tgkill", 2), ("rt_sigqueueinfo", 1), ("rt_tgsigqueueinfo", 2),
              ("pidfd_send_signal", 1))
PR_SET_SECCOMP = 22
PR_SET_SYSCALL_USER_DISPATCH = 59
F_SETSIG = 10
F_SETPIPE_SZ = 1031
RLIMIT_FSIZE = 1
PROCESS_CREATION = ("fork", "vfork")
PROFILES = ("python", "cpp", "compile")


def build_bpf(profile: str, exec_address: int = 0) -> bytes:
    """Compile a profile to a BPF program (x86-64 only; other ABIs are killed by default)."""
    import pyseccomp as sc

    if profile not in PROFILES:
        raise ValueError(f"unknown seccomp profile {profile!r}")
    if os.uname().machine != "x86_64":
        raise RuntimeError("the seccomp policy is written for x86-64 only")
    kill = sc.KILL_PROCESS
    f = sc.SyscallFilter(sc.ALLOW)
    f.set_attr(sc.Attr.ACT_BADARCH, kill)
    # a binary search over syscall numbers, not a chain of comparisons: each child installs the filter
    # (about 0.2 ms instead of 0.3: the kernel walks it once per syscall number to cache what it allows)
    f.set_attr(sc.Attr.CTL_OPTIMIZE, 2)
    for name in DENIED:
        f.add_rule(kill, name)
    for number in DENIED_NUMBERS:
        f.add_rule(kill, number)
    def int_arg(index: int, value: int) -> object:
        """An ``int`` argument equal to ``value``: the kernel reads its low 32 bits only, so compare only those
        (a program could set the high ones to slip past a 64-bit comparison)."""
        return sc.Arg(index, sc.MASKED_EQ, 0xFFFFFFFF, value)

    for name, index in SIGNALLING:
        f.add_rule(kill, name, int_arg(index, signal.SIGXFSZ))
    f.add_rule(kill, "fcntl", int_arg(1, F_SETSIG))
    f.add_rule(kill, "fcntl", int_arg(1, F_SETPIPE_SZ))  # megabytes of pipe buffers, outside the measured peak
    for option in (PR_SET_SECCOMP, PR_SET_SYSCALL_USER_DISPATCH):
        f.add_rule(kill, "prctl", int_arg(0, option))
    f.add_rule(kill, "setrlimit", int_arg(0, RLIMIT_FSIZE))
    f.add_rule(kill, "prlimit64", int_arg(1, RLIMIT_FSIZE), sc.Arg(2, sc.NE, 0))
    if profile != "compile":
        for name in PROCESS_CREATION:
            f.add_rule(kill, name)
        f.add_rule(kill, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
        # clone3 hides its flags behind a pointer: refuse it, and glibc falls back to clone for threads.
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        f.add_rule(kill, "execveat")
        if profile == "cpp":
            f.add_rule(kill, "execve", sc.Arg(0, sc.NE, exec_address))
        else:
            f.add_rule(kill, "execve")
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return out.read()
