"""Hostile model-written programs must fail, contained, and leave this process working.

Each program runs with small limits (1.5 s wall, 256 MB) so the whole file stays fast. The
bubblewrap cases are skipped where bwrap is missing; the resource-limit fallback runs everywhere.
"""

import os
import time

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


def test_unknown_backend_is_a_usage_error():
    from selfcorrect_cli.errors import UsageError

    with pytest.raises(UsageError):
        Sandbox(SandboxConfig(backend="docker"))

