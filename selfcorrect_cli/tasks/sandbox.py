"""Run untrusted, model-written Python and say whether it ran to its end.

A program is the model's solution followed by the benchmark's asserts: it passes only when every
statement ran and nothing was raised. Under RL its author is rewarded for passing, so the program
is treated as an adversary that may try to fake the verdict.

Containment. Each program gets its own process, started fresh, in a new empty working
directory, with:
- an empty environment (no tokens or keys from ours) and Python's isolated mode (-I);
- limits on address space, CPU time, file size, open files and number of processes, set by a
  small trusted runner before the program starts; running as root, the runner also drops to
  user `nobody`, so the process limit applies and nothing of ours can be signalled or written;
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


# ---- the trusted runner: this text runs inside the sandbox, standard library only ----------
# It reads settings from argv (nothing secret there), the program from stdin and the host's
# nonce from an inherited pipe. Every name the audit hook and the program thread use after the
# program starts is bound beforehand: the program can rebind globals of this module (it can
# `import __main__`) and builtins, but not the locals and closures of running code.
_RUNNER = r'''
import builtins, json, os, resource, sys, _thread

TOKEN_BYTES = 32
REFUSED_EVENTS = frozenset({
    # frames, and objects found without a name: the proof token is a local of a frame
    "sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile",
    "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    # hand-made bytecode reads and writes memory at will (imports compile from source instead)
    "code.__new__", "marshal.load", "marshal.loads",
    # new processes and interpreters carry no hook; a forked copy could also retry the tests
    "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
    "subprocess.Popen", "cpython.PyInterpreterState_New",
    # signalling the runner (or anything else)
    "os.kill", "os.killpg", "signal.pthread_kill",
    # whatever could make a path that was checked name /proc when it is opened
    "os.chdir", "os.symlink", "os.link",
    # a hook of its own would see ours at work
    "sys.addaudithook",
})
FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
# (a fresh _posixsubprocess; the one loaded before the program has its fork_exec disarmed)
REFUSED_MODULES = frozenset({"ctypes", "_ctypes", "_posixsubprocess"})  # and _test*, _xx*


def read_all(fd):
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def make_guard(trusted_dirs, proc_device, events=REFUSED_EVENTS, attributes=FRAME_ATTRIBUTES,
               modules=REFUSED_MODULES, stat=os.stat, kind=type, str_=str, bytes_=bytes,
               int_=int, Refused=PermissionError, NoModule=ModuleNotFoundError,
               NoFrame=ValueError, stat_errors=(OSError, ValueError)):
    """The audit hook. It reads only its closure, and trusts only exact str/bytes/int
    arguments: the program may hand it objects of its own whose methods lie."""

    def inside_trusted_dir(path):  # an extension module's file
        if kind(path) is not str_:
            return False
        directory = path.rpartition("/")[0]
        for _ in range(64):  # walk up to the root, asking the kernel (no string tricks)
            try:
                info = stat(directory)
            except stat_errors:
                return False
            if (info.st_dev, info.st_ino) in trusted_dirs:
                return True
            directory += "/.."
        return False

    def allowed_import(name, path):
        if kind(name) is not str_:
            return False
        root = name.partition(".")[0]
        if root in modules or root.startswith(("_test", "_xx")):
            return False
        return path is None or inside_trusted_dir(path)

    def allowed_open(path, mode):
        if kind(path) is int_:
            return True  # a descriptor it already holds
        if kind(path) is not str_ and kind(path) is not bytes_:
            return False
        if mode is None and path[:1] not in ("/", b"/"):
            return False  # os.open: the event does not show a dir_fd the path is relative to
        try:
            return stat(path).st_dev != proc_device  # /proc/self/mem is the process's memory
        except stat_errors:
            return True  # nothing there yet: a new file, never under /proc

    def guard(event, args):
        if event in events or event.startswith("ctypes."):
            raise Refused(f"sandbox: {event} is not allowed")
        if event == "sys._getframe":
            # what the standard library expects where frames are unavailable (namedtuple,
            # typing, enum and logging then carry on without them)
            raise NoFrame("call stack is not deep enough")
        if event == "object.__getattr__" and args[1] in attributes:
            raise Refused(f"sandbox: reading {args[1]} is not allowed")
        if event == "import" and not allowed_import(args[0], args[1]):
            raise NoModule(f"sandbox: module {args[0]!r} is not allowed")
        if event == "open" and not allowed_open(args[0], args[1]):
            raise Refused(f"sandbox: opening {args[0]!r} is not allowed")

    return guard


def refuse_to_spawn(*args):
    raise PermissionError("sandbox: starting processes is not allowed")


def disarm_spawning():
    """`import subprocess` must keep working (asyncio imports it), but its fork_exec starts a
    process without raising an audit event: replace it before the program can hold it."""
    import _posixsubprocess
    _posixsubprocess.fork_exec = refuse_to_spawn
    if "subprocess" in sys.modules:
        sys.modules["subprocess"]._fork_exec = refuse_to_spawn


def trusted_dirs():
    """Where extension modules may come from: sys.path as the interpreter started it."""
    found = set()
    for entry in sys.path:
        if entry.startswith("/") and os.path.isdir(entry):
            info = os.stat(entry)
            found.add((info.st_dev, info.st_ino))
    return frozenset(found)


def run_program(token_fd, proof_fd, devnull, finished):
    """The program's thread: take the token, run the program, prove that it finished."""
    # Bound now: once the program has run, only locals can be trusted.
    write, exit_now, caught, kind, exiting = os.write, os._exit, BaseException, type, SystemExit
    interpreter, streams, show_error = sys, (sys.stdout, sys.stderr), sys.__excepthook__

    def flush():
        for stream in streams:
            try:
                stream.flush()
            except caught:
                pass  # e.g. over the file-size limit: the output is only for reading

    try:
        token = read_all(token_fd)
        source = read_all(0).decode("utf-8", errors="replace")
        os.dup2(devnull, 0)  # the program reads an empty stdin
        os.close(devnull)
        try:
            code = compile(source, "solution.py", "exec")
            del source
            exec(code, {"__name__": "solution", "__builtins__": builtins})
        except caught as error:
            token = None
            interpreter.stdout, interpreter.stderr = streams
            flush()  # what it printed, then why it failed
            show_error(kind(error), error, error.__traceback__)
            # sys.exit(0) still reports status 0, but without the proof it is no pass
            status = 0 if kind(error) is exiting and error.code in (None, 0) else 1
        else:
            status = 0
        flush()
        if token is not None:
            write(proof_fd, token)
        exit_now(status)
    finally:
        finished.release()  # reached only if something above failed to end the process


def run_child(token_fd, proof_fd):
    """The program's process: arm the audit hook, then run the program in a second thread.

    Signal handlers receive the current frame and installing one is not audited, but they
    run only in the main thread (and only it may install them); this one holds no secret.
    """
    exit_now = os._exit
    devnull = os.open(os.devnull, os.O_RDONLY)
    # A path that can never exist: imports compile from source and never need marshal.loads.
    sys.pycache_prefix = "/dev/null/pycache"
    disarm_spawning()
    try:
        proc_device = os.stat("/proc").st_dev
    except OSError:
        proc_device = None
    sys.addaudithook(make_guard(trusted_dirs(), proc_device))
    finished = _thread.allocate_lock()
    finished.acquire()
    _thread.start_new_thread(run_program, (token_fd, proof_fd, devnull, finished))
    try:
        finished.acquire()
    finally:
        exit_now(1)


def judge(child, token_fd, proof_fd, nonce_fd, verdict_fd):
    """The runner's parent: send the child its token, wait, and vouch for a proven finish."""
    token = os.urandom(TOKEN_BYTES)
    os.write(token_fd, token)
    os.close(token_fd)
    exit_code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    os.set_blocking(proof_fd, False)
    try:
        proof = os.read(proof_fd, 2 * TOKEN_BYTES)
    except BlockingIOError:
        proof = b""
    if exit_code == 0 and proof == token:
        os.write(verdict_fd, os.read(nonce_fd, 1024))  # the host wrote it before we started
    os._exit(0 if exit_code == 0 else 1)


def main(settings):
    for name, value in settings["limits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if os.getuid() == 0 and settings["drop_privileges"]:
        nobody = settings["nobody"]
        os.setgroups([]); os.setgid(nobody); os.setuid(nobody)
    token_read, token_write = os.pipe()
    proof_read, proof_write = os.pipe()
    child = os.fork()  # the program's parent is then this runner, never the host's process
    if child == 0:
        for fd in (token_write, proof_read, settings["nonce_fd"], settings["verdict_fd"]):
            os.close(fd)
        run_child(token_read, proof_write)
    for fd in (token_read, proof_write):
        os.close(fd)
    judge(child, token_write, proof_read, settings["nonce_fd"], settings["verdict_fd"])


main(json.loads(sys.argv[1]))
'''


class Sandbox:
    """Runs programs under the limits of a SandboxConfig; `run_many` runs them in parallel."""

    def __init__(self, cfg: SandboxConfig):
        if cfg.backend not in ("auto", "bwrap", "rlimit"):
            raise UsageError(f"sandbox.backend must be auto, bwrap or rlimit, got {cfg.backend!r}")
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
