"""The trusted runner: runs inside the sandbox, before and around the untrusted program.

`sandbox.py` reads this file's text once and starts it as `python -I -B -c <text> <settings>`,
so inside the sandbox it runs as `__main__` and is never on the program's disk. It uses the
standard library only. Nothing it receives is secret on its own: the settings (limits, the uid
to drop to, the numbers of the inherited nonce and verdict pipes) come as JSON in argv[1], the
program on stdin, and the host's nonce waits in the inherited nonce pipe. The proof token it
makes in its parent travels to its child through a pipe that is read and closed before the
program starts; see sandbox.py for the whole threat model and its honest limits.

The program shares this process's interpreter: it can `import __main__` and rebind this
module's globals, and rebind builtins, but not the locals and closures of running code. So
every name the audit hook and the program thread use after the program starts is bound
beforehand, in default arguments, closures and locals.

Imported as a module (by pytest --doctest-modules, say) it only defines names; `main` runs
only under `if __name__ == "__main__"`. The guard can be tried on its own:

>>> guard = make_guard(trusted_dirs=frozenset(), proc_device=None)
>>> guard("os.system", ("ls",))
Traceback (most recent call last):
PermissionError: sandbox: os.system is not allowed
>>> guard("import", ("ctypes", None))
Traceback (most recent call last):
ModuleNotFoundError: sandbox: module 'ctypes' is not allowed
>>> guard("import", ("json", None)) is None
True
"""

import _thread
import builtins
import json
import os
import resource
import sys

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
        os.setgroups([])
        os.setgid(nobody)
        os.setuid(nobody)
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


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
