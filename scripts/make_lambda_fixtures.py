"""Generate tests/fixtures/lambdas/py3XX.json: serialized lambdas from every CPython 3.8-3.13.

Each interpreter dumps the same list of lambdas exactly the way Keras 3's ``func_dump`` does
(``base64.encodebytes(marshal.dumps(fn.__code__))`` plus defaults and closure cell
contents) and records, from its *own* native ``marshal.loads`` and ``dis`` of that very blob,
the expected structure (names, constants, co_code, instruction listing). Tests then compare
kerasvet's pure-Python reader against those expectations without needing pyenv, and without
ever unmarshalling one version's blob natively under another version.

The lambdas are only created and dumped here, never called: the hostile-looking ones are
harmless only because their bodies never run.

Usage:
    python scripts/make_lambda_fixtures.py                   # every pyenv 3.8-3.13 found
    python scripts/make_lambda_fixtures.py /path/python3.X ...
    python3.X scripts/make_lambda_fixtures.py --emit         # child mode: JSON on stdout

The child part runs under 3.8 too, so this file keeps to 3.8 syntax.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import subprocess
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "lambdas")
PYENV_GLOB = "/root/.pyenv/versions/3.*/bin/python"
WANTED = {(3, 8), (3, 9), (3, 10), (3, 11), (3, 12), (3, 13)}
FILENAME = "<kerasvet-fixture>"

# (id, group, source). The source is compiled as an expression that evaluates to the
# function; evaluating it only *creates* the lambda.
CASES: list[tuple[str, str, str]] = [
    ("mul2", "benign", "lambda x: x * 2"),
    ("add_float", "benign", "lambda x: x + 1.0"),
    ("default_arg", "benign", "lambda x, y=3: x * y"),
    ("closure", "benign", "(lambda k: (lambda x: x * k))(4)"),
    ("ops_relu", "benign", "lambda x: ops.relu(x)"),
    ("keras_mean", "benign", "lambda x: keras.ops.mean(x, axis=-1)"),
    ("slice_column", "benign", "lambda x: x[:, 0]"),
    ("if_not_none", "benign", "lambda x: x if x is not None else 0"),
    ("tuple_pick", "benign", "lambda t: (t[0], t[1])"),
    ("last_dim", "benign", "lambda x: x.shape[-1]"),
    ("in_set", "benign", "lambda x: x in {1, 2, 3}"),
    ("complex_const", "benign", "lambda x: x * 2j"),
    ("big_int", "benign", "lambda x: x + 123456789012345678901234567890"),
    ("dunder_import", "hostile", 'lambda x: __import__("os").system("true")'),
    ("os_system", "hostile", 'lambda x: os.system("true")'),
    ("eval_call", "hostile", 'lambda x: eval("1")'),
    ("listcomp", "hostile", "lambda x: [i for i in x]"),
    ("yield_expr", "hostile", "lambda x: (yield x)"),
    ("walrus", "hostile", "lambda x: (y := x)"),
    ("fstring", "hostile", 'lambda x: f"{x}"'),
    ("star_args", "hostile", "lambda *a: a"),
    ("dunder_class", "hostile", "lambda x: x.__class__"),
    ("getattr_class", "hostile", 'lambda x: getattr(x, "__class__")'),
]


def canon(value: Any) -> Any:
    """A JSON form of a native constant that tests can rebuild from kerasvet's records."""
    import types

    if value is None:
        return ["none"]
    if value is Ellipsis:
        return ["ellipsis"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["int", str(value)]
    if isinstance(value, float):
        return ["float", value.hex()]
    if isinstance(value, complex):
        return ["complex", value.real.hex(), value.imag.hex()]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, bytes):
        return ["bytes", value.hex()]
    if isinstance(value, tuple):
        return ["tuple", [canon(v) for v in value]]
    if isinstance(value, frozenset):
        items = [canon(v) for v in value]
        return ["frozenset", sorted(items, key=lambda c: json.dumps(c, sort_keys=True))]
    if isinstance(value, types.CodeType):
        return ["code", summary(value)]
    raise TypeError(f"unexpected constant {value!r}")


def instructions(code: Any) -> list[list[Any]]:
    """The producer's own ``dis`` listing: [offset, opname, arg, jump target or None].

    EXTENDED_ARG is folded into the next instruction (dis already folds the value), and
    CACHE entries are not listed (dis hides them by default).
    """
    import dis

    out = []
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    for ins in dis.get_instructions(code):
        if ins.opname == "EXTENDED_ARG":
            continue
        target = ins.argval if ins.opcode in jumps else None
        out.append([ins.offset, ins.opname, ins.arg, target])
    return out


def summary(code: Any) -> dict[str, Any]:
    """Every field the reader must reproduce, as the producing interpreter sees it."""
    v = sys.version_info[:2]
    linetable = code.co_linetable if v >= (3, 10) else code.co_lnotab
    return {
        "argcount": code.co_argcount,
        "posonlyargcount": code.co_posonlyargcount,
        "kwonlyargcount": code.co_kwonlyargcount,
        "nlocals": code.co_nlocals,
        "stacksize": code.co_stacksize,
        "flags": code.co_flags,
        "code": code.co_code.hex(),
        "consts": [canon(c) for c in code.co_consts],
        "names": list(code.co_names),
        "varnames": list(code.co_varnames),
        "freevars": list(code.co_freevars),
        "cellvars": list(code.co_cellvars),
        "filename": code.co_filename,
        "name": code.co_name,
        "qualname": getattr(code, "co_qualname", None),
        "firstlineno": code.co_firstlineno,
        "linetable": linetable.hex(),
        "exceptiontable": getattr(code, "co_exceptiontable", b"").hex(),
        "instructions": instructions(code),
    }


def keras_dump(fn: Any) -> dict[str, Any]:
    """Keras 3 ``Lambda`` layer config for ``fn`` (``python_utils.func_dump`` on POSIX)."""
    import marshal

    code = base64.encodebytes(marshal.dumps(fn.__code__)).decode("ascii")
    defaults = list(fn.__defaults__) if fn.__defaults__ else None
    closure = [c.cell_contents for c in fn.__closure__] if fn.__closure__ else None
    return {"code": code, "defaults": defaults, "closure": closure}


def emit() -> dict[str, Any]:
    """Dump every case under the running interpreter, with its native expectations."""
    import marshal

    cases = []
    for case_id, group, source in CASES:
        # Evaluating the expression only builds the function object; its body never runs.
        fn = eval(compile(source, FILENAME, "eval"), {"__builtins__": {}})
        node = keras_dump(fn)
        blob = base64.decodebytes(node["code"].encode("ascii"))
        # Our own blob, under the interpreter that just wrote it: the trusted oracle.
        native = marshal.loads(blob)
        expected = summary(native)
        # FLAG_REF bits depend on reference counts, so compare structure, not bytes.
        if expected != summary(fn.__code__):
            raise SystemExit(f"marshal round trip changed {case_id}")
        cases.append({
            "id": case_id,
            "group": group,
            "source": source,
            "keras": node,
            "expected": expected,
        })
    v = sys.version_info
    import importlib.util

    return {
        "version": "{}.{}".format(*v[:2]),
        "python": "{}.{}.{}".format(*v[:3]),
        "magic": int.from_bytes(importlib.util.MAGIC_NUMBER[:2], "little"),
        "marshal_version": marshal.version,
        "cases": cases,
    }


def interpreters(argv: list[str]) -> list[str]:
    """The interpreters to run: the arguments, or one pyenv build per wanted version."""
    if argv:
        return argv
    found: dict[str, str] = {}
    for path in sorted(glob.glob(PYENV_GLOB)):
        version = os.path.basename(os.path.dirname(os.path.dirname(path)))
        parts = tuple(int(p) for p in version.split(".")[:2])
        if parts in WANTED:
            found["{}.{}".format(*parts)] = path
    return [found[k] for k in sorted(found, key=lambda v: tuple(map(int, v.split("."))))]


def main(argv: list[str]) -> int:
    """Run the child mode under every interpreter and write one fixture file per version."""
    if argv[:1] == ["--emit"]:
        json.dump(emit(), sys.stdout, sort_keys=True)
        return 0
    os.makedirs(OUT_DIR, exist_ok=True)
    for python in interpreters(argv):
        out = subprocess.run(
            [python, "-I", os.path.abspath(__file__), "--emit"],
            check=True, capture_output=True, text=True,
            # A fixed hash seed keeps frozenset member order, hence the blobs, reproducible.
            env={"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")},
        ).stdout
        data = json.loads(out)
        path = os.path.join(OUT_DIR, "py{}.json".format(data["version"].replace(".", "")))
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(data, fh, sort_keys=True, indent=1)
            fh.write("\n")
        print("{}: {} ({} cases)".format(python, path, len(data["cases"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
