"""Hostile model-written programs must fail, contained, and leave this process working.

Each program runs with small limits (1.5 s wall, 256 MB) so the whole file stays fast. The
bubblewrap cases are skipped where bwrap is missing; the resource-limit fallback runs everywhere.

The forgery tests play the policy under RL: a wrong solution that tries to make itself count
as passed. Each comes with a benign control of the same shape that must pass under the same
backend, so a sandbox that runs nothing (or refuses everything) fails this file.
"""

import os
import textwrap
import time
from typing import NamedTuple

import pytest

from selfcorrect_cli.config import SandboxConfig
from selfcorrect_cli.tasks.sandbox import Sandbox, bubblewrap_works

BACKENDS = [
    pytest.param("bwrap", marks=pytest.mark.skipif(not bubblewrap_works(), reason="bwrap unavailable")),
    "rlimit",
]


def make_sandbox(backend: str, **overrides) -> Sandbox:
    settings = dict(backend=backend, timeout_s=1.5, memory_mb=256, max_processes=8, max_file_mb=1,
                    max_output_kb=4, workers=4)
    settings.update(overrides)
    return Sandbox(SandboxConfig(**settings))


def runs_as_root_without_isolation(backend: str) -> bool:
    """Fallback as root with an interpreter user nobody cannot read: programs keep root."""
    from selfcorrect_cli.tasks.sandbox import _stdlib_reachable_by_nobody

    return backend == "rlimit" and os.geteuid() == 0 and not _stdlib_reachable_by_nobody()


@pytest.mark.parametrize("backend", BACKENDS)
def test_correct_program_passes_and_failing_assert_fails(backend):
    sandbox = make_sandbox(backend)
    good, bad = sandbox.run_many(["def f(x):\n    return x + 1\nassert f(1) == 2\nprint('ok')",
                                  "assert 1 == 2"])
    assert good.passed and good.output.strip() == "ok"
    assert not bad.passed and "AssertionError" in bad.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_exit_zero_before_the_tests_is_not_a_pass(backend):
    for early_exit in ("import sys; sys.exit(0)", "import os; os._exit(0)"):
        result = make_sandbox(backend).run(f"{early_exit}\nassert False")
        assert result.returncode == 0 and not result.passed


@pytest.mark.parametrize("backend", BACKENDS)
def test_main_block_of_the_program_does_not_run(backend):
    program = "def g():\n    return 1\nif __name__ == '__main__':\n    input()\nassert g() == 1"
    assert make_sandbox(backend).run(program).passed


@pytest.mark.parametrize("backend", BACKENDS)
def test_infinite_loop_is_killed_at_the_wall_limit(backend):
    start = time.monotonic()
    result = make_sandbox(backend).run("while True:\n    pass")
    assert result.timed_out and not result.passed
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_fork_bomb_is_contained(backend):
    if runs_as_root_without_isolation(backend):
        pytest.skip("root ignores the process limit; the fallback cannot bound a fork bomb here")
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = make_sandbox(backend).run(bomb)
    assert not result.passed
    assert make_sandbox(backend).run("print(1)").passed  # and the machine still forks


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_bomb_fails(backend):
    result = make_sandbox(backend).run("blocks = [bytearray(64 * 1024 * 1024) for _ in range(64)]")
    assert not result.passed and "MemoryError" in result.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_output_is_capped(backend):
    result = make_sandbox(backend).run("while True:\n    print('x' * 10000)")
    assert not result.passed
    assert len(result.output) <= 4 * 1024


@pytest.mark.parametrize("backend", BACKENDS)
def test_environment_secrets_are_not_visible(backend, monkeypatch):
    monkeypatch.setenv("SECRET", "hunter2")
    result = make_sandbox(backend).run("import os\nprint(sorted(os.environ))\nassert 'SECRET' not in os.environ")
    assert result.passed and "hunter2" not in result.output


@pytest.mark.parametrize("backend", BACKENDS)
def test_killing_its_parent_does_not_reach_us(backend):
    result = make_sandbox(backend).run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)")
    assert not result.passed
    assert os.getpid() > 0  # still here: the parent it saw was the sandbox's runner


@pytest.mark.skipif(not bubblewrap_works(), reason="bwrap unavailable")
def test_killing_every_process_it_can_see_stays_inside():
    result = make_sandbox("bwrap").run("import os, signal\nos.kill(-1, signal.SIGKILL)")
    assert not result.passed


@pytest.mark.skipif(not bubblewrap_works(), reason="bwrap unavailable")
def test_no_network():
    program = ("import socket\n"
               "socket.create_connection(('192.0.2.1', 80), timeout=1)\n")  # TEST-NET: never routed
    result = make_sandbox("bwrap").run(program)
    assert not result.passed and "unreachable" in result.output.lower()


@pytest.mark.parametrize("backend", BACKENDS)
def test_files_outside_its_directory_are_safe(backend, tmp_path):
    if runs_as_root_without_isolation(backend):
        pytest.skip("programs keep root in this fallback: only bubblewrap protects files here")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    program = (f"import os\nos.remove({str(victim)!r})\n")
    writer = f"open({str(tmp_path / 'planted.txt')!r}, 'w').write('x')"
    removed, planted = make_sandbox(backend).run_many([program, writer])
    assert not removed.passed and not planted.passed
    assert victim.read_text() == "keep me" and not (tmp_path / "planted.txt").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_program_may_use_its_own_directory(backend):
    program = "open('scratch.txt', 'w').write('1')\nassert open('scratch.txt').read() == '1'"
    assert make_sandbox(backend).run(program).passed


# ---- forged passes ----------------------------------------------------------------------------
# A program is a solution followed by tests; the model writes everything before TESTS. Hostile
# programs hold a wrong solution plus a forgery; controls hold the right solution plus a benign
# twin of the forgery, and must pass.

WRONG = "def add(a, b):\n    return a - b\n"
RIGHT = "def add(a, b):\n    return a + b\n"
TESTS = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\nprint('all tests ran')\n"

# Hands one candidate secret to every descriptor and marker file, then claims success. The
# runner's proof token is 32 bytes; a local with a telling name is the best guess.
FORGE = """
import os, re
def pick(named):
    for name, value in named:
        if isinstance(value, bytes) and len(value) == 32 and re.search("token|nonce|secret|proof", name):
            return value
    for name, value in named:
        if isinstance(value, bytes) and len(value) == 32:
            return value
def forge(secret):
    for fd in range(3, 64):
        try:
            os.write(fd, secret)
        except (OSError, TypeError):
            pass
    try:
        open(".done", "wb").write(secret or b"")
    except OSError:
        pass
    os._exit(0)
def from_frames(frame):
    named = []
    while frame is not None:
        named += list(frame.f_locals.items()) + list(frame.f_globals.items())
        frame = frame.f_back
    return named
"""


class Forgery(NamedTuple):
    hostile: str
    """Code after WRONG and the FORGE helpers: tries to make the program count as passed."""
    control: str
    """Code after RIGHT doing the same benign things: must pass."""


def program(solution: str, extra: str = "") -> str:
    return f"{solution}{textwrap.dedent(extra)}\n{TESTS}"


def hostile_and_control(forgery: Forgery) -> list[str]:
    return [program(WRONG + FORGE, forgery.hostile), program(RIGHT, forgery.control)]


FORGERIES = {
    # The first sandbox wrote its nonce into a file of the program's own directory.
    "nonce_from_files_then_fake_marker": Forgery(
        hostile="""
            import os, re
            found = []
            for top in (".", "..", "/tmp"):
                for name in os.listdir(top):
                    try:
                        found += re.findall(r"[0-9a-f]{32,64}", open(os.path.join(top, name), errors="replace").read())
                    except OSError:
                        pass
            for marker in (".done", "../.done", "/tmp/.done"):
                try:
                    open(marker, "w").write(found[0])  # its own directory first: the likeliest
                except (OSError, IndexError):
                    pass
            try:
                open(".runner.py", "w").write("import os\\nos._exit(0)\\n")  # a runner that passes anything
            except OSError:
                pass
            os._exit(0)
        """,
        control="""
            import os
            open("scratch.txt", "w").write("kept")
            assert "scratch.txt" in [name for _, _, files in os.walk(".") for name in files]
        """,
    ),
    # Secrets passed on argv, in the environment or on inherited pipes.
    "secret_from_proc_argv_environ_and_fds": Forgery(
        hostile="""
            named = []
            for path in ("/proc/self/cmdline", "/proc/self/environ",
                         f"/proc/{os.getppid()}/cmdline", f"/proc/{os.getppid()}/environ"):
                try:
                    text = open(path, "rb").read()
                    named += [("secret", bytes.fromhex(h.decode())) for h in re.findall(rb"[0-9a-f]{64}", text)]
                except OSError:
                    pass
            for fd in range(0, 64):  # a pipe the secret waits in
                try:
                    os.set_blocking(fd, False)
                    named.append(("secret", os.read(fd, 4096)))
                except OSError:
                    pass
            forge(pick(named))
        """,
        control="""
            import os
            assert os.listdir("/proc/self/fd") and os.write(1, b"") == 0
        """,
    ),
    # The proof token in a local of the runner, reached through frames.
    "token_from_frames": Forgery(
        hostile="""
            import inspect, sys, traceback
            named = []
            def running_generator():
                yield holder[0].gi_frame
            holder = [running_generator()]
            def tb_frame():
                try:
                    raise ValueError
                except ValueError as error:
                    return error.__traceback__.tb_frame
            for get in (sys._getframe, inspect.currentframe, tb_frame, lambda: next(holder[0]),
                        lambda: list(sys._current_frames().values())[0]):
                try:
                    named += from_frames(get())
                except Exception:
                    pass
            try:
                named += [(f.name, v) for f in traceback.StackSummary.extract(traceback.walk_stack(None), capture_locals=True)
                          for v in (f.locals or {}).values()]
            except Exception:
                pass
            forge(pick(named))
        """,
        control="""
            import collections, enum, logging, sys, typing
            Point = collections.namedtuple("Point", "x y")  # these look at frames inside
            T = typing.TypeVar("T")
            Colour = enum.Enum("Colour", "RED GREEN")
            logging.getLogger("control").info("fine")
            try:
                raise ValueError
            except ValueError as error:
                assert error.__traceback__.tb_lineno > 0
        """,
    ),
    # ... through the garbage collector's lists of objects.
    "token_from_the_garbage_collector": Forgery(
        hostile="""
            import gc
            named = []
            try:
                for holder in gc.get_objects():
                    named += [("gc", value) for value in gc.get_referents(holder)]
            except Exception:
                pass
            forge(pick(named))
        """,
        control="""
            import gc
            gc.collect()
            assert gc.isenabled()
        """,
    ),
    # ... through the frame a signal handler is given (not an audited route).
    "token_from_a_signal_handlers_frame": Forgery(
        hostile="""
            import signal, time
            named = []
            def handler(signum, frame):
                named.extend(from_frames(frame))
            try:
                signal.signal(signal.SIGALRM, handler)
                signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
                deadline = time.monotonic() + 0.3
                while time.monotonic() < deadline and not pick(named):
                    pass
            except Exception:
                pass
            forge(pick(named))
        """,
        control="""
            import signal
            assert signal.getsignal(signal.SIGINT) is not None
        """,
    ),
    # Killing or stopping the runner that waits for the program.
    "kill_or_signal_the_runner": Forgery(
        hostile="""
            import os, signal
            for attack in (lambda: os.kill(os.getppid(), signal.SIGKILL),
                           lambda: os.kill(os.getppid(), signal.SIGTERM),
                           lambda: os.killpg(0, signal.SIGKILL),
                           lambda: signal.pidfd_send_signal(os.pidfd_open(os.getppid()), signal.SIGKILL)):
                try:
                    attack()
                except Exception:
                    pass
            os._exit(0)
        """,
        control="""
            import os, signal
            assert os.getppid() > 0 and signal.SIGKILL
        """,
    ),
    # Making a failing assert not count: builtins, hooks, its globals.
    "patch_the_assertion_machinery": Forgery(
        hostile="""
            import builtins, os, sys, threading
            class Quiet(Exception):
                pass
            builtins.AssertionError = Quiet
            __builtins__.AssertionError = Quiet
            globals()["AssertionError"] = Quiet
            sys.excepthook = lambda *exc: os._exit(0)
            threading.excepthook = lambda args: os._exit(0)
            sys.unraisablehook = lambda unraisable: os._exit(0)
        """,
        control="""
            import sys
            sys.excepthook = sys.__excepthook__
        """,
    ),
    # A trace function that jumps over the asserts, straight to the last line.
    "trace_function_skips_the_asserts": Forgery(
        hostile="""
            import sys
            here = sys._getframe()
            last = max(line for _, _, line in here.f_code.co_lines() if line)
            tests = here.f_lineno + 6  # the first line after this snippet
            def skip(frame, event, arg):
                if event == "line" and frame is here and tests <= frame.f_lineno < last:
                    frame.f_lineno = last
                return skip
            here.f_trace = skip
            sys.settrace(skip)
        """,
        control="""
            import sys
            assert sys.gettrace() is None
        """,
    ),
    # Reading the tests (its own source) and answering from them.
    "answers_read_from_its_own_tests": Forgery(
        hostile="""
            import glob, re
            answers = {}
            for path in glob.glob("*.py") + glob.glob(".*.py"):
                for a, b, want in re.findall(r"add\\((-?\\d+), (-?\\d+)\\) == (-?\\d+)", open(path).read()):
                    answers[int(a), int(b)] = int(want)
            def add(a, b):
                return answers.get((a, b), a - b)
        """,
        control="""
            import glob
            assert glob.glob("*.py") == []
        """,
    ),
    # Forking one copy per guess: the copy whose guess passes finishes, the others vanish.
    "forked_copies_retry_the_tests": Forgery(
        hostile="""
            import os, subprocess, sys
            for guess in (lambda a, b: a * b, lambda a, b: a + b):
                try:
                    if os.fork() == 0:
                        add = guess
                        break
                except OSError:
                    pass
            else:
                try:
                    os.wait(); os.wait()
                except ChildProcessError:
                    pass
                try:
                    subprocess.run([sys.executable, "-c", "print('a fresh interpreter')"])
                except Exception:
                    pass
                os._exit(0)
        """,
        control="""
            import os
            assert os.getpid() > 1
        """,
    ),
}


EXITS = {
    "sys.exit(0)": "import sys; sys.exit(0)",
    "os._exit(0)": "import os; os._exit(0)",
    "raise SystemExit": "raise SystemExit",
    "raise SystemExit(0)": "raise SystemExit(0)",
    "exit()": "exit()",
    "os._exit(0) from a thread": "import os, threading, time; threading.Thread(target=os._exit, args=(0,)).start(); time.sleep(0.2)",
    "atexit handler": "import atexit, os; atexit.register(os._exit, 0); raise AssertionError",
    "KeyboardInterrupt": "raise KeyboardInterrupt",
    "interrupt the main thread": "import _thread, time; _thread.interrupt_main(); time.sleep(0.2)",
}


@pytest.mark.parametrize("leave", EXITS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_leaving_halfway_through_the_tests_is_not_a_pass(backend, leave):
    """The wrong solution leaves while the tests call it: status 0 or not, no pass."""
    hostile = f"def add(a, b):\n    {EXITS[leave]}\n    return a - b\n"
    imports = EXITS[leave].split(";")[0] if EXITS[leave].startswith("import") else "pass"
    control = f"def add(a, b):\n    {imports}\n    return a + b\n"
    results = make_sandbox(backend).run_many([program(hostile), program(control)])
    assert not results[0].passed, results[0].output
    assert results[1].passed and "all tests ran" in results[1].output, results[1].output


def test_every_hostile_program_and_control_is_valid_python():
    """A forgery that fails to compile would fail for the wrong reason and prove nothing."""
    for forgery in FORGERIES.values():
        for text in hostile_and_control(forgery):
            compile(text, "forgery.py", "exec")
    for leave in EXITS.values():
        compile(program(f"def add(a, b):\n    {leave}\n    return a - b\n"), "exit.py", "exec")


@pytest.mark.parametrize("name", FORGERIES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_forgeries_do_not_pass_and_their_controls_do(backend, name):
    hostile, control = make_sandbox(backend).run_many(hostile_and_control(FORGERIES[name]))
    assert not hostile.passed, hostile.output
    assert control.passed, control.output
    assert "all tests ran" in control.output


# Every route from the program to the runner's secrets, or out of the audit hook, is refused
# by the sandbox itself (not by luck: the error must come from it). The program is its own
# control: it passes only when every route is refused and everything else still works.
ROUTES = """
import importlib.util, marshal, os, signal, sys
open_routes = []
def refused(route, attempt):
    try:
        attempt()
    except BaseException as error:
        if "sandbox" in str(error) or "call stack is not deep enough" in str(error):
            return
    open_routes.append(route)
def fork():
    if os.fork() == 0:
        os._exit(0)
def extension_from_here():
    open("evil.cpython-311-x86_64-linux-gnu.so", "wb").write(b"not really")
    spec = importlib.util.spec_from_file_location("evil", "evil.cpython-311-x86_64-linux-gnu.so")
    importlib.util.module_from_spec(spec)
root = os.open("/", os.O_RDONLY)
refused("sys._getframe", sys._getframe)
def tb_frame():
    try:
        raise ValueError
    except ValueError as error:
        return error.__traceback__.tb_frame
def gi_frame():
    def running():
        yield generator.gi_frame
    generator = running()
    return next(generator)
refused("tb_frame", tb_frame)
refused("gi_frame", gi_frame)
refused("sys._current_frames", sys._current_frames)
refused("sys.settrace", lambda: sys.settrace(None))
refused("sys.setprofile", lambda: sys.setprofile(None))
refused("gc.get_objects", lambda: __import__("gc").get_objects())
refused("gc.get_referrers", lambda: __import__("gc").get_referrers(open_routes))
refused("/proc/self/mem", lambda: open("/proc/self/mem", "rb"))
refused("/proc/<parent>/mem", lambda: open(f"/proc/{os.getppid()}/mem", "rb"))
refused("/proc/self/mem via /dev/fd", lambda: open("/dev/fd/../mem", "rb"))
refused("/proc/self/mem via dir_fd", lambda: os.open("proc/self/mem", os.O_RDONLY, dir_fd=root))
refused("/proc/self/mem via opener", lambda: open("proc/self/mem", "rb", opener=lambda p, f: os.open(p, f, dir_fd=root)))
refused("/proc/self/mem via chdir", lambda: os.chdir("/proc/self"))
refused("/proc/self/mem via symlink", lambda: os.symlink("/proc/self/mem", "mem"))
refused("ctypes", lambda: __import__("ctypes"))
refused("_ctypes", lambda: __import__("_ctypes"))
refused("subinterpreters", lambda: __import__("_xxsubinterpreters"))
refused("_testcapi", lambda: __import__("_testcapi"))
refused("extension module written by the program", extension_from_here)
refused("marshal.loads", lambda: marshal.loads(marshal.dumps(compile("1", "x", "eval"))))
refused("code.replace", lambda: (lambda: 0).__code__.replace(co_consts=(1,)))
refused("os.fork", fork)
refused("os.posix_spawn", lambda: os.posix_spawn("/bin/true", ["true"], {}))
refused("os.system", lambda: os.system("true"))
refused("subprocess", lambda: __import__("subprocess").run(["true"]))
refused("_posixsubprocess", lambda: __import__("_posixsubprocess").fork_exec())
refused("a fresh _posixsubprocess", lambda: __import__("_imp").create_dynamic(importlib.util.find_spec("_posixsubprocess")))
refused("os.execv", lambda: os.execv("/bin/true", ["true"]))
refused("os.kill", lambda: os.kill(os.getppid(), 0))
refused("os.killpg", lambda: os.killpg(0, 0))
seen_by_its_hook = []  # adding a hook fails silently (CPython swallows the refusal)
sys.addaudithook(lambda event, args: seen_by_its_hook.append(event))
sys.audit("probe")
if seen_by_its_hook:
    open_routes.append("sys.addaudithook")
print("open routes:", open_routes)
assert not open_routes
import collections, fractions, heapq, json, math, re, statistics  # ordinary imports still work
assert heapq.nsmallest(1, [3, 1]) == [1] and json.loads("[1]") == [1] and math.gcd(4, 6) == 2
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_route_to_the_secrets_is_refused_by_the_sandbox(backend):
    result = make_sandbox(backend, timeout_s=5).run(program(RIGHT, ROUTES))
    assert result.passed, result.output
    assert "open routes: []" in result.output
