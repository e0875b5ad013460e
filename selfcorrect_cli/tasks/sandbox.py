"""Run untrusted, model-written Python and say whether it exited cleanly.

Each program gets its own process, started fresh, in a new empty working directory, with:
- an empty environment (no tokens or keys from ours) and Python's isolated mode (-I);
- limits on address space, CPU time, file size, open files and number of processes, set by a
  small trusted runner before the program starts; running as root, the runner also drops to
  user `nobody`, so the process limit applies and nothing of ours can be signalled or written;
- a wall-clock limit, after which the whole process group is killed;
- with bubblewrap (`bwrap`): no network, its own PID namespace (nothing outside is visible),
  and a file system that holds only the interpreter, system libraries, /tmp and its directory.
Without bubblewrap the limits still apply, but the network is open and the program sees the
host's files with the rights of its user; we warn once, loudly.

A program passes only when it exits with status 0 *and* the runner got past it: the runner
writes a nonce after the program returns, so `sys.exit(0)` or `os._exit(0)` halfway through a
test file does not count as passing.
"""

from __future__ import annotations

import functools
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
_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    passed: bool
    """Exit status 0 and the runner finished: every assert in the program held."""
    returncode: int | None
    timed_out: bool
    output: str
    """The start of stdout and stderr together (capped), for reading failures."""


# The trusted runner: limits, privilege drop, then the program as module "solution" (so an
# `if __name__ == "__main__":` demo block does not run), then the nonce that marks completion.
_RUNNER = """\
import os, resource, sys
limits = {limits!r}
for name, value in limits.items():
    resource.setrlimit(getattr(resource, name), (value, value))
if os.getuid() == 0 and {drop_privileges!r}:
    os.setgroups([]); os.setgid({nobody}); os.setuid({nobody})
child = os.fork()  # the program's parent is then this runner, never the host's process
if child:
    status = os.waitpid(child, 0)[1]
    os._exit(0 if os.waitstatus_to_exitcode(status) == 0 else 1)
source = open({program!r}, encoding="utf-8").read()
namespace = {{"__name__": "solution", "__builtins__": __builtins__}}
sys.argv = ["solution.py"]
exec(compile(source, "solution.py", "exec"), namespace)
with open({done!r}, "w") as done:
    done.write({nonce!r})
"""


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
            (workdir / "solution.py").write_text(program, encoding="utf-8")
            if os.geteuid() == 0:  # the program's user must be able to write here
                os.chown(workdir, NOBODY, NOBODY)  # the runner drops to nobody before the program
            inside = SANDBOX_DIR if self.use_bwrap else str(workdir)
            nonce = secrets.token_hex(16)
            runner = _RUNNER.format(
                limits=self._limits(), nobody=NOBODY, nonce=nonce,
                drop_privileges=self.use_bwrap or _stdlib_reachable_by_nobody(),
                program=f"{inside}/solution.py", done=f"{inside}/.done",
            )
            (workdir / ".runner.py").write_text(runner, encoding="utf-8")
            command = self._command(workdir, f"{inside}/.runner.py")
            output_path = Path(scratch, "output.txt")  # outside the program's reach
            returncode, timed_out = self._execute(command, workdir, output_path)
            done = workdir / ".done"
            finished = done.is_file() and done.read_text(errors="replace") == nonce
            output = _read_head(output_path, self.cfg.max_output_kb * 1024)
        passed = returncode == 0 and not timed_out and finished
        return RunResult(passed=passed, returncode=returncode, timed_out=timed_out, output=output)

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
            "RLIMIT_NPROC": _count_processes(_program_uid()) + self.cfg.max_processes,
        }

    def _command(self, workdir: Path, runner: str) -> list[str]:
        python = [_interpreter(), "-I", "-B", runner]
        if not self.use_bwrap:
            return python
        return [*_bubblewrap_prefix(), "--bind", str(workdir), SANDBOX_DIR,
                "--chdir", SANDBOX_DIR, *python]

    def _execute(self, command: list[str], workdir: Path, output_path: Path) -> tuple[int | None, bool]:
        with open(output_path, "wb") as output:
            process = subprocess.Popen(
                command, cwd=workdir, env=_clean_environment(), stdin=subprocess.DEVNULL,
                stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            )
            try:
                return process.wait(timeout=self.cfg.timeout_s), False
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
