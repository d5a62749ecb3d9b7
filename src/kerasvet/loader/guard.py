"""The runtime guard: a ``sys.addaudithook`` hook that refuses side effects during a load.

Defence in depth behind the static audit. While the resolver and Keras build a vetted
config, CPython reports security-relevant operations to audit hooks before doing them; the
hook raises (which aborts the operation) for:

* imports of modules outside the load's allowed import set (the ``import`` event, and the
  module body ``exec`` that ``importlib.import_module`` raises instead of ``import``);
* ``exec``/``compile`` of anything but the verified lambdas (module bodies and the
  ``namedtuple``/``dataclass`` code generated while an allowed module is imported are part
  of that import);
* processes, sockets, name lookups, native libraries, pickle, marshal outside imports,
  building functions or code objects by hand (``types.FunctionType``, ``code.replace``, what
  Keras' ``func_load`` does), thread starts (a new thread would run outside the guard's
  context; CPython raises that event from 3.12 only), file-system changes;
* ``open`` for writing, and ``open`` for reading except by the import system (module code)
  and ``linecache`` (source lines for a warning). The loader never gives Keras a path:
  weights come from the bytes already in memory, so Keras has no file of its own to open,
  and no temporary files are created.

Audit hooks cannot be removed, so the hook is installed once per process and does nothing
unless a load is active in the *current context*: the active state lives in a
``ContextVar``, not in a module global, so concurrent loads in other threads or tasks each
see their own state (and code outside any load pays one set lookup per audit event).
Every refusal is also recorded in the load's state, because library code may swallow the
exception the hook raises (Keras catches ``Exception`` around weight loading); the loader
checks the record after the build and refuses the load if anything was refused.

What the guard cannot do is listed in SECURITY.md ("Runtime guard limits").
"""

from __future__ import annotations

import ast
import linecache
import os
import sys
import threading
import tokenize
import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final

from kerasvet.errors import KerasvetError
from kerasvet.loader.model import GuardEvent

__all__ = [
    "LAMBDA_FILENAME",
    "REFUSED_EVENTS",
    "GuardRefusal",
    "GuardState",
    "guarded",
    "install",
]

LAMBDA_FILENAME: Final = "<kerasvet-lambda>"
"""The file name ``kerasvet.lambdas.rebuild`` compiles verified lambdas under."""

REFUSED_EVENTS: Final = frozenset({
    # processes
    "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty",
    "os.kill", "os.killpg", "os.startfile", "subprocess.Popen", "pty.spawn",
    "signal.pthread_kill",
    # network and name lookups
    "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
    "socket.gethostbyname", "socket.gethostbyaddr", "urllib.Request", "http.client.connect",
    "ftplib.connect", "smtplib.connect", "poplib.connect", "imaplib.open", "nntplib.connect",
    "telnetlib.Telnet.open", "webbrowser.open",
    # native code, serialized code and objects
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function", "ctypes.string_at",
    "ctypes.wstring_at", "ctypes.cdata", "code.__new__", "function.__new__",
    "pickle.find_class",
    "sqlite3.connect", "sqlite3.enable_load_extension",
    # a thread would run outside this context's guard state (the event exists from 3.12)
    "_thread.start_new_thread",
    # file-system and process-state changes
    "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
    "os.symlink", "os.link", "os.utime", "os.chdir", "os.chflags", "os.putenv", "os.unsetenv",
    "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.copytree",
    "shutil.move", "shutil.rmtree", "shutil.chown", "shutil.make_archive",
    "shutil.unpack_archive", "tempfile.mkstemp", "tempfile.mkdtemp",
    "resource.setrlimit", "resource.prlimit", "builtins.input",
})
"""Audit events refused outright while a load is active."""

_JUDGED: Final = frozenset({"import", "exec", "compile", "open", "marshal.loads",
                            "marshal.load"})
"""Events allowed in some circumstances (imports, module code, reads of module files)."""

_HANDLED: Final = REFUSED_EVENTS | _JUDGED

_IMPORT_FRAMES: Final = frozenset({
    "<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>",
    "<frozen zipimport>",
})
"""``co_filename`` of the import system's frames (frozen modules in CPython 3.8+)."""

_WRITE_FLAGS: Final = (os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
                       | getattr(os, "O_TMPFILE", 0))
_SOURCE_READERS: Final = frozenset({linecache.__file__, tokenize.__file__})
"""``linecache`` reads source lines through ``tokenize.open`` for warnings and tracebacks."""
_MAX_FRAMES: Final = 400
_AST_PARSE: Final = ast.parse.__code__


class GuardRefusal(KerasvetError):
    """Raised inside the operation the guard refused; the loader turns it into a
    ``PolicyViolation`` (from the state's record, in case Keras swallowed it).

    It takes a plain message like any exception: Keras re-raises errors from inside a
    layer call as ``type(e)(new_message)``.
    """


@dataclass(frozen=True, slots=True)
class GuardState:
    """What one active load may do, and what the guard refused during it."""

    allowed_imports: frozenset[str]
    """Exact module names that may be imported (and whose bodies may run)."""
    lambda_dumps: frozenset[str]
    """``ast.dump`` of every verified lambda the resolver may compile."""
    enforce: bool = True
    """False only for measuring: refusals are recorded but nothing is raised."""
    refusals: list[GuardEvent] = field(default_factory=list)
    """Everything refused so far (the one mutable part: a per-load record)."""


_ACTIVE: ContextVar[GuardState | None] = ContextVar("kerasvet_guard_state", default=None)
_INSTALL_LOCK: Final = threading.Lock()
_INSTALLED: Final[list[bool]] = []
"""Set once the hook is installed: audit hooks are per process and cannot be removed, so
installing twice would only judge every event twice. Guarded by ``_INSTALL_LOCK``."""


def install() -> None:
    """Install the audit hook once per process (idempotent, thread-safe)."""
    with _INSTALL_LOCK:
        if not _INSTALLED:
            sys.addaudithook(_hook)
            _INSTALLED.append(True)


@contextmanager
def guarded(state: GuardState) -> Iterator[GuardState]:
    """Make ``state`` the active guard state of the current context for the block."""
    install()
    token = _ACTIVE.set(state)
    try:
        yield state
    finally:
        _ACTIVE.reset(token)


def _hook(event: str, args: tuple[object, ...]) -> None:
    """The audit hook: one set lookup for unrelated events, one ContextVar read otherwise."""
    if event not in _HANDLED:
        return
    state = _ACTIVE.get()
    if state is None:
        return
    try:
        problem = _judge(event, args, state, sys._getframe(1))
    except Exception as exc:  # fail closed: a judgement that crashes refuses
        problem = f"{event} (the guard could not judge it: {type(exc).__name__})"
    if problem is None:
        return
    refused = GuardEvent(event=event, detail=problem)
    state.refusals.append(refused)
    if state.enforce:
        raise GuardRefusal(f"kerasvet runtime guard refused {problem}")


def _frames(origin: types.FrameType) -> Iterator[types.FrameType]:
    """``origin`` (the Python frame that performed the operation) and its callers, bounded."""
    frame: types.FrameType | None = origin
    count = 0
    while frame is not None and count < _MAX_FRAMES:
        yield frame
        frame = frame.f_back
        count += 1


def _in_import_system(origin: types.FrameType) -> bool:
    """Whether the import system is on the stack (running module code or reading it)."""
    return any(f.f_code.co_filename in _IMPORT_FRAMES for f in _frames(origin))


def _module_being_executed(code: types.CodeType, origin: types.FrameType) -> str | None:
    """The name of the module whose body ``code`` is, when the import system runs it.

    ``importlib.import_module`` raises no ``import`` audit event (only ``__import__`` does),
    so the module body's ``exec`` is where such imports are judged: the import system
    calls ``exec(code, module.__dict__)`` from ``_call_with_frames_removed``.
    """
    if code.co_name != "<module>":
        return None
    for frame in _frames(origin):
        if frame.f_code.co_filename not in _IMPORT_FRAMES:
            return None
        arguments = frame.f_locals.get("args")
        if isinstance(arguments, tuple) and len(arguments) >= 2 \
                and arguments[0] is code and isinstance(arguments[1], dict):
            name = arguments[1].get("__name__")
            return name if isinstance(name, str) else None
        module = frame.f_locals.get("module")
        if isinstance(module, types.ModuleType):
            return module.__name__
    return None


def _verified_lambda(source: object, state: GuardState) -> bool:
    """``compile`` of the rebuilder's AST: the lambda itself, or the closure wrapper
    ``lambda <freevars>: <verified lambda>`` around it."""
    if not isinstance(source, ast.Expression) or not isinstance(source.body, ast.Lambda):
        return False
    body = source.body
    if ast.dump(body) in state.lambda_dumps:
        return True
    return isinstance(body.body, ast.Lambda) and ast.dump(body.body) in state.lambda_dumps


def _writes(mode: object, flags: object) -> bool:
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _from_linecache(origin: types.FrameType) -> bool:
    """Source lines read for a warning or traceback (``linecache`` via ``tokenize.open``)."""
    return origin.f_code.co_filename in _SOURCE_READERS


def _show(path: object) -> str:
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else repr(path)
    return repr(text if len(text) <= 200 else text[:197] + "...")


def _judge(
    event: str, args: tuple[object, ...], state: GuardState, origin: types.FrameType
) -> str | None:
    """``None`` to allow the event, else a description of what is refused."""
    if event in REFUSED_EVENTS:
        shown = ", ".join(_show(a) if isinstance(a, (str, bytes)) else type(a).__name__
                          for a in args[:2])
        return f"{event}({shown})"
    if event == "import":
        name = args[0] if args else None
        if isinstance(name, str) and name in state.allowed_imports:
            return None
        return f"import of module {name!r}, which is outside the policy's import set"
    if event == "exec":
        code = args[0] if args else None
        if isinstance(code, types.CodeType):
            if code.co_filename == LAMBDA_FILENAME:
                return None  # only a compile the guard allowed can produce this file name
            module = _module_being_executed(code, origin)
            if module is not None:
                if module in state.allowed_imports:
                    return None
                return f"import of module {module!r}, which is outside the policy's import set"
            if _in_import_system(origin):
                return None  # namedtuple/dataclass code generated by an allowed import
            return f"exec of code from {code.co_filename!r}"
        return "exec of source text"
    if event == "compile":
        source = args[0] if args else None
        filename = args[1] if len(args) > 1 else None
        # CPython passes no file name for an AST source, so the AST itself is what is checked.
        if _verified_lambda(source, state):
            return None
        if origin.f_code is _AST_PARSE:
            return None  # parsing to an AST makes no code (inspect.signature of builtins)
        if _in_import_system(origin):
            return None
        return f"compile of code for {filename!r}"
    if event in ("marshal.loads", "marshal.load"):
        if _in_import_system(origin):
            return None  # cached bytecode of a module being imported
        return f"{event} of serialized code outside an import"
    # open
    path = args[0] if args else None
    mode = args[1] if len(args) > 1 else None
    flags = args[2] if len(args) > 2 else None
    if _writes(mode, flags):
        return f"open({_show(path)}, {mode!r}) for writing"
    if origin.f_code.co_filename in _IMPORT_FRAMES:
        return None  # module source or bytecode for an import judged on its own
    if isinstance(path, str) and path.endswith(".py") and _from_linecache(origin):
        return None
    return f"open({_show(path)}) for reading outside the artifact"
