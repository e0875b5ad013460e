"""Run untrusted, model-written Python and say whether it ran to its end.

A program is the model's solution followed by the benchmark's asserts: it passes only when every
statement ran and nothing was raised. Under RL its author is rewarded for passing, so the program
is treated as an adversary that may try to fake the verdict.

Containment. Each program gets its own process, started fresh, in a new empty working
directory, with:
- an empty environment (no tokens or keys from ours) and Python's isolated mode (-I);
- limits on address space, CPU time, file size, open files and number of processes, set by a
  small trusted runner before the program starts (sandbox_runner.py, whose text is passed to
  `python -c`); running as root, the runner also drops to user `nobody`, so the process limit
  applies and nothing of ours can be signalled or written;
- a wall-clock limit, after which the whole process group is killed;
- with bubblewrap (`bwrap`): no network, its own PID namespace (nothing outside is visible),
  and a file system that holds only the interpreter, system libraries, /tmp and its directory.
Without bubblewrap the limits still apply, but the network is open and the program sees the
host's files with the rights of its user; we warn once, loudly.

The verdict. No file, argument or environment variable the program can see carries a secret:
- The host leaves a nonce in a pipe. The runner forks; its parent keeps the nonce and the write
  end of the verdict pipe, both closed in the child before the program exists, and writes the
  nonce back only when the child proved that the program finished.
- The proof is a token the parent sends the child through a pipe that is read and closed before
  the program starts. It lives only in a local of the thread that runs the program, and goes
  back only after the program returned without raising: `sys.exit()`, `os._exit()`, signals
  and exceptions leave it unsent. The source arrives on stdin, so the tests are not on disk.
- A CPython audit hook (PEP 578; Python code cannot remove it) refuses every route to the token
  that we know of: frames (sys._getframe, tracebacks, generators, trace functions), the garbage
  collector's object lists, raw memory (/proc, ctypes, subinterpreters, hand-made code objects,
  extension modules from outside the interpreter's folders) and new processes (they carry no
  hook, and a forked copy could retry the tests). Signal handlers get frames unaudited, but run
  only in the main thread, which holds no secret: the program runs in another thread.

Honest limits. An audit hook is not a security boundary: a program that reaches memory through
a CPython bug, or by a route missed here, can read the token and forge a pass; that takes an
exploit rather than reading a file, but it is possible. Nothing here judges the tests: sharing
their namespace, a program can return objects that equal anything or patch what they call.
Without bubblewrap a program writes whatever its user can (as root: the interpreter the next
runner starts). Programs that fork, spawn, use ctypes or asyncio, set signal handlers or read
frames (traceback.format_exc does) fail here.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from selfcorrect_cli.config import SandboxConfig
from selfcorrect_cli.errors import UsageError

NOBODY = 65534
SANDBOX_DIR = "/sandbox"  # the program's working directory inside bubblewrap
NONCE_BYTES = 32
RUNNER_TASKS = 3  # the runner's parent, its child and the child's program thread
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    passed: bool
    """The runner vouched that the program ran to its end: every assert in it held."""
    returncode: int | None
    timed_out: bool
    output: str
    """The start of stdout and stderr together (capped), for reading failures."""


# ---- the trusted runner (sandbox_runner.py): standard library only, nothing secret in it -----
# Its text is read once, as this module loads, and handed to the interpreter as `-c`: no path
# to it is passed, under bubblewrap its file is not in the program's file system, and later
# edits to the file do not reach the runners this process starts.
# It takes non-secret settings from argv, the program from stdin, the nonce from a pipe.
_RUNNER = Path(__file__).with_name("sandbox_runner.py").read_text(encoding="utf-8")


class Sandbox:
    """Runs programs under the limits of a SandboxConfig; `run_many` runs them in parallel."""

    def __init__(self, cfg: SandboxConfig):
        if cfg.backend == "bwrap" and not bubblewrap_works():
            raise UsageError("sandbox.backend=bwrap but bubblewrap is missing or cannot start; "
                             "install it with: apt-get install -y bubblewrap")
        self.cfg = cfg
        self.use_bwrap = cfg.backend == "bwrap" or (cfg.backend == "auto" and bubblewrap_works())
        if not self.use_bwrap:
            _warn_unsandboxed()
            _stdlib_reachable_by_nobody()  # warns when programs would run as root

    def run_many(self, programs: list[str]) -> list[RunResult]:
        """Results in the order of `programs`, at most `cfg.workers` running at once."""
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.workers)) as pool:
            return list(pool.map(self.run, programs))

    def run(self, program: str) -> RunResult:
        """Run one program (its tests included) to completion or to its limits."""
        with tempfile.TemporaryDirectory(prefix="selfcorrect-sandbox-") as scratch:
            os.chmod(scratch, 0o711)  # the program's user may pass through, not list
            workdir = Path(scratch, "work")
            workdir.mkdir()
            if os.geteuid() == 0:  # the program's user must be able to write here
                os.chown(workdir, NOBODY, NOBODY)  # the runner drops to nobody before the program
            output_path = Path(scratch, "output.txt")  # outside the program's reach
            returncode, timed_out, vouched = self._execute(program, workdir, output_path)
            output = _read_head(output_path, self.cfg.max_output_kb * 1024)
        passed = returncode == 0 and not timed_out and vouched
        return RunResult(passed=passed, returncode=returncode, timed_out=timed_out, output=output)

    def _execute(self, program: str, workdir: Path, output_path: Path) -> tuple[int | None, bool, bool]:
        """(exit status, timed out, whether the runner vouched for a finished program)."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        nonce_read, nonce_write = os.pipe()
        verdict_read, verdict_write = os.pipe()
        try:
            os.write(nonce_write, nonce)  # waits in the pipe for the runner's parent
            command = self._command(workdir, nonce_fd=nonce_read, verdict_fd=verdict_write)
            with open(output_path, "wb") as output:
                process = subprocess.Popen(
                    command, cwd=workdir, env=_clean_environment(), stdin=subprocess.PIPE,
                    stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                    pass_fds=(nonce_read, verdict_write),
                )
            returncode, timed_out = _feed_and_wait(process, program, self.cfg.timeout_s)
            vouched = secrets.compare_digest(_read_available(verdict_read), nonce)
        finally:
            for fd in (nonce_read, nonce_write, verdict_read, verdict_write):
                os.close(fd)
        return returncode, timed_out, vouched

    def _limits(self) -> dict[str, int]:
        cpu = int(self.cfg.timeout_s) + 1
        return {
            "RLIMIT_AS": self.cfg.memory_mb * 1024 * 1024,
            "RLIMIT_CPU": cpu,
            "RLIMIT_FSIZE": self.cfg.max_file_mb * 1024 * 1024,
            "RLIMIT_NOFILE": 256,
            "RLIMIT_CORE": 0,
            # The process limit counts every process of the user, so leave room for those
            # that already exist (other programs running in parallel included).
            "RLIMIT_NPROC": _count_processes(_program_uid()) + RUNNER_TASKS + self.cfg.max_processes,
        }

    def _command(self, workdir: Path, nonce_fd: int, verdict_fd: int) -> list[str]:
        settings = {
            "limits": self._limits(), "nobody": NOBODY, "nonce_fd": nonce_fd,
            "verdict_fd": verdict_fd,
            "drop_privileges": self.use_bwrap or _stdlib_reachable_by_nobody(),
        }
        python = [_interpreter(), "-I", "-B", "-c", _RUNNER, json.dumps(settings)]
        if not self.use_bwrap:
            return python
        return [*_bubblewrap_prefix(), "--bind", str(workdir), SANDBOX_DIR,
                "--chdir", SANDBOX_DIR, *python]


def _feed_and_wait(process: subprocess.Popen, program: str, timeout_s: float) -> tuple[int | None, bool]:
    """Send the program on stdin and wait for the runner, up to the wall-clock limit."""
    try:
        process.communicate(program.encode("utf-8"), timeout=timeout_s)
        return process.returncode, False
    except subprocess.TimeoutExpired:
        return None, True
    finally:
        _kill_group(process)


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the program's process group (bubblewrap's PID namespace goes down with it)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone
    except PermissionError:
        pass  # the group's leader changed user; its own limits end it
    process.wait()
    process.stdin.close()


def _read_available(fd: int) -> bytes:
    """What is in a pipe now, without waiting for writers that may never close it."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return b""


def _read_head(path: Path, limit: int) -> str:
    with open(path, "rb") as handle:
        return handle.read(limit).decode("utf-8", errors="replace")


def _clean_environment() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp", "PYTHONHASHSEED": "0"}


def _interpreter() -> str:
    """The base interpreter (not the venv): programs get the standard library only."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def _program_uid() -> int:
    return NOBODY if os.geteuid() == 0 else os.geteuid()


def _count_processes(uid: int) -> int:
    """How many processes `uid` owns now (from /proc)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except FileNotFoundError:
                continue  # exited while we looked
    return count


def _bubblewrap_prefix() -> list[str]:
    """bwrap arguments: new namespaces, read-only system and interpreter, private /tmp."""
    args = ["bwrap", "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    prefix = os.path.realpath(sys.base_prefix)
    if not prefix.startswith("/usr/"):
        # Parents bwrap creates are private (0700) by default; the program runs as nobody.
        for parent in reversed(Path(prefix).parents[:-1]):
            args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", prefix, prefix]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
             "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
             "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp"]
    return args


@functools.cache
def bubblewrap_works() -> bool:
    """Whether `bwrap` is installed and can build our sandbox here (checked once)."""
    if shutil.which("bwrap") is None:
        return False
    probe = [*_bubblewrap_prefix(), _interpreter(), "-I", "-c", "pass"]
    try:
        result = subprocess.run(probe, capture_output=True, timeout=30, env=_clean_environment())
    except (OSError, subprocess.TimeoutExpired):
        return False
    if result.returncode != 0:
        _LOG.warning("bubblewrap is installed but cannot start a sandbox here: %s",
                     result.stderr.decode(errors="replace").strip())
    return result.returncode == 0


@functools.cache
def _stdlib_reachable_by_nobody() -> bool:
    """Whether user nobody can import our standard library (a Python under /root cannot)."""
    stdlib = Path(sysconfig.get_path("stdlib")).resolve()
    reachable = all(os.stat(folder).st_mode & stat.S_IXOTH for folder in [stdlib, *stdlib.parents])
    if not reachable and os.geteuid() == 0:
        _LOG.warning(
            "!!! without bubblewrap and with Python under %s, which user nobody cannot read, "
            "model-written programs run AS ROOT (resource limits only). !!!", stdlib,
        )
    return reachable


@functools.cache
def _warn_unsandboxed() -> None:
    _LOG.warning(
        "!!! bubblewrap (bwrap) is not available: model-written programs run with resource "
        "limits only, WITH network access and read access to this machine's files. Install "
        "it (apt-get install -y bubblewrap) before running code tasks on untrusted models. !!!"
    )
