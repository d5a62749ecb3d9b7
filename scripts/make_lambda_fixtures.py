"""Generate tests/fixtures/lambdas/py3XX.json: serialized lambdas from every CPython 3.8-3.13.

Each interpreter dumps the same list of lambdas exactly the way Keras 3's ``func_dump`` does
(``base64.encodebytes(marshal.dumps(fn.__code__))`` plus defaults and closure cell
contents) and records, from its *own* native ``marshal.loads`` and ``dis`` of that very blob,
the expected structure (names, constants, co_code, instruction listing). Tests then compare
kerasvet's pure-Python reader against those expectations without needing pyenv, and without
ever unmarshalling one version's blob natively under another version.

The lambdas are only created and dumped here, never called: the hostile-looking ones are
harmless only because their bodies never run (and their payloads at most touch
/tmp/kerasvet-canary). Each case also records what kerasvet must conclude about it under
the test policy (``expect``: verdict, reason rule ids, reconstructed source, and the kind
of sample input a rebuilt function is compared on). A few cases are *crafted* from a real
dump the way an attacker would craft them (patched bytes, altered code objects, bad
closure lists); their native summary is omitted where native tools cannot describe them.

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

# Expected verdicts under the test policy (tests/unit/lambdas/_support.py, built from
# kerasvet.lambdas.defaults). "rules" are the rule ids of every reason, sorted; "bandit" the
# bandit test ids among them; "lifted" the reconstructed source with defaults, or None when
# nothing could be lifted; "sample" the kind of input a rebuilt function is called with.
ALLOW = "allow"
DENY = "deny"


def expect(verdict: str, rules: list[str], lifted: Any, sample: Any = None,
           bandit: Any = None) -> dict[str, Any]:
    """One case's expectation (identical for every producer version unless overridden)."""
    return {"verdict": verdict, "rules": sorted(rules), "lifted": lifted, "sample": sample,
            "bandit": sorted(bandit or [])}


def ok(lifted: str, sample: str = "tensor") -> dict[str, Any]:
    """An allowed lambda: no reasons at all."""
    return expect(ALLOW, [], lifted, sample)


# (id, group, source, expectation). The source is compiled as an expression that evaluates
# to the function; evaluating it only *creates* the lambda. Hostile payloads at most touch
# /tmp/kerasvet-canary, and none of them is ever called.
CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("mul2", "benign", "lambda x: x * 2", ok("lambda x: x * 2")),
    ("add_float", "benign", "lambda x: x + 1.0", ok("lambda x: x + 1.0")),
    ("default_arg", "benign", "lambda x, y=3: x * y", ok("lambda x, y=3: x * y")),
    ("closure", "benign", "(lambda k: (lambda x: x * k))(4)", ok("lambda x: x * k")),
    ("ops_relu", "benign", "lambda x: ops.relu(x)", ok("lambda x: ops.relu(x)")),
    ("keras_mean", "benign", "lambda x: keras.ops.mean(x, axis=-1)",
     ok("lambda x: keras.ops.mean(x, axis=-1)")),
    ("slice_column", "benign", "lambda x: x[:, 0]", ok("lambda x: x[:, 0]")),
    ("if_not_none", "benign", "lambda x: x if x is not None else 0",
     ok("lambda x: x if x is not None else 0")),
    ("tuple_pick", "benign", "lambda t: (t[0], t[1])", ok("lambda t: (t[0], t[1])", "pair")),
    ("last_dim", "benign", "lambda x: x.shape[-1]", ok("lambda x: x.shape[-1]")),
    ("in_set", "benign", "lambda x: x in {1, 2, 3}", ok("lambda x: x in {1, 2, 3}", "int")),
    ("complex_const", "benign", "lambda x: x * 2j", ok("lambda x: x * 2j")),
    ("big_int", "benign", "lambda x: x + 123456789012345678901234567890",
     ok("lambda x: x + 123456789012345678901234567890", "int")),
    ("dunder_import", "hostile", 'lambda x: __import__("os").system("true")',
     expect(DENY, ["KV505", "KV505"], "lambda x: __import__('os').system('true')")),
    ("os_system", "hostile", 'lambda x: os.system("true")',
     expect(DENY, ["KV505", "KV508", "KV508"], "lambda x: os.system('true')",
            bandit=["B605", "B607"])),
    ("eval_call", "hostile", 'lambda x: eval("1")',
     expect(DENY, ["KV505", "KV508"], "lambda x: eval('1')", bandit=["B307"])),
    ("listcomp", "hostile", "lambda x: [i for i in x]", expect(DENY, ["KV504"], None)),
    ("yield_expr", "hostile", "lambda x: (yield x)", expect(DENY, ["KV504"], None)),
    ("walrus", "hostile", "lambda x: (y := x)", expect(DENY, ["KV504"], None)),
    ("fstring", "hostile", 'lambda x: f"{x}"', expect(DENY, ["KV504"], None)),
    ("star_args", "benign", "lambda *a: a", ok("lambda *a: a")),
    ("dunder_class", "hostile", "lambda x: x.__class__",
     expect(DENY, ["KV505", "KV505"], "lambda x: x.__class__")),
    ("getattr_class", "hostile", 'lambda x: getattr(x, "__class__")',
     expect(DENY, ["KV505"], "lambda x: getattr(x, '__class__')")),
    # -- typical ML lambdas (issue 3, "Done when") -------------------------------------------
    ("slice_cols", "benign", "lambda x: x[:, 0:2]", ok("lambda x: x[:, 0:2]")),
    ("ops_mean_kw", "benign", "lambda x: ops.mean(x, axis=-1, keepdims=True)",
     ok("lambda x: ops.mean(x, axis=-1, keepdims=True)")),
    ("k_mean", "benign", "lambda x: K.mean(x, axis=1)", ok("lambda x: K.mean(x, axis=1)")),
    ("tf_reduce_sum", "benign", "lambda x: tf.reduce_sum(x, axis=1)",
     ok("lambda x: tf.reduce_sum(x, axis=1)")),
    ("tf_l2_normalize", "benign", "lambda x: tf.math.l2_normalize(x, axis=-1)",
     ok("lambda x: tf.math.l2_normalize(x, axis=-1)")),
    ("tf_nn_relu", "benign", "lambda x: tf.nn.relu(x)", ok("lambda x: tf.nn.relu(x)")),
    ("np_clip", "benign", "lambda x: np.clip(x, 0.0, 1.0)",
     ok("lambda x: np.clip(x, 0.0, 1.0)")),
    ("closure_two", "benign", "(lambda a, b: (lambda x: x * a + b))(0.5, 1.0)",
     ok("lambda x: x * a + b")),
    ("dtype_cond", "benign",
     'lambda x: x if x.dtype == "float32" else ops.cast(x, "float32")',
     ok("lambda x: x if x.dtype == 'float32' else ops.cast(x, 'float32')", "int_tensor")),
    ("default_axis", "benign", "lambda x, axis=-1: ops.sum(x, axis=axis)",
     ok("lambda x, axis=-1: ops.sum(x, axis=axis)")),
    ("two_defaults", "benign", "lambda x, scale=0.5, shift=1.0: x * scale + shift",
     ok("lambda x, scale=0.5, shift=1.0: x * scale + shift")),
    ("optional_add", "benign", "lambda x, y=None: x if y is None else x + y",
     ok("lambda x, y=None: x if y is None else x + y")),
    ("relu_affine", "benign", "lambda x: ops.relu(x) * 2 + 1",
     ok("lambda x: ops.relu(x) * 2 + 1")),
    ("l2_rows", "benign", "lambda x: x / ops.norm(x, axis=-1, keepdims=True)",
     ok("lambda x: x / ops.norm(x, axis=-1, keepdims=True)")),
    ("concat_pair", "benign", "lambda t: ops.concatenate([t[0], t[1]], axis=-1)",
     ok("lambda t: ops.concatenate([t[0], t[1]], axis=-1)", "pair")),
    ("expand_last", "benign", "lambda x: ops.expand_dims(x, axis=-1)",
     ok("lambda x: ops.expand_dims(x, axis=-1)")),
    ("output_shape", "benign", "lambda s: (s[0], s[-1] * 2)",
     ok("lambda s: (s[0], s[-1] * 2)", "shape")),
    ("rank", "benign", "lambda x: len(x.shape)", ok("lambda x: len(x.shape)")),
    ("shape_tuple", "benign", "lambda x: tuple(x.shape)", ok("lambda x: tuple(x.shape)")),
    ("transpose_t", "benign", "lambda x: x.T", ok("lambda x: x.T")),
    # -- every evasion of lambda-analysis.md section 7 -------------------------------------
    ("import_or", "hostile",
     'lambda x: __import__("os").system("touch /tmp/kerasvet-canary") or x',
     expect(DENY, ["KV505", "KV505"],
            "lambda x: __import__('os').system('touch /tmp/kerasvet-canary') or x")),
    ("subclasses", "hostile", "lambda x: ().__class__.__base__.__subclasses__()",
     expect(DENY, ["KV505"] * 4, "lambda x: ().__class__.__base__.__subclasses__()")),
    ("exec_tuple", "hostile",
     "lambda x: (exec(\"open('/tmp/kerasvet-canary', 'w').close()\"), x)[1]",
     expect(DENY, ["KV505", "KV508"],
            'lambda x: (exec("open(\'/tmp/kerasvet-canary\', \'w\').close()"), x)[1]',
            bandit=["B102"])),
    ("compile_call", "hostile", 'lambda x: compile("1", "<s>", "eval")',
     expect(DENY, ["KV505"], "lambda x: compile('1', '<s>', 'eval')")),
    ("globals_os", "hostile", 'lambda x: globals()["os"]',
     expect(DENY, ["KV505"], "lambda x: globals()['os']")),
    ("vars_call", "hostile", "lambda x: vars(x)", expect(DENY, ["KV505"], "lambda x: vars(x)")),
    ("getattr_folded", "hostile", 'lambda x: getattr(x, "__glo" + "bals__")',
     expect(DENY, ["KV505"], "lambda x: getattr(x, '__globals__')")),
    ("getattr_join", "hostile", 'lambda x, f=("__cl", "ass__"): getattr(x, "".join(f))',
     expect(DENY, ["KV505", "KV505"],
            "lambda x, f=['__cl', 'ass__']: getattr(x, ''.join(f))")),
    ("format_attr", "hostile", 'lambda x: "{0.__class__}".format(x)',
     expect(DENY, ["KV505"], "lambda x: '{0.__class__}'.format(x)")),
    ("fstring_class", "hostile", 'lambda x: f"{x.__class__}"', expect(DENY, ["KV504"], None)),
    ("attrgetter", "hostile", 'lambda x: operator.attrgetter("__class__")(x)',
     expect(DENY, ["KV505", "KV505"], "lambda x: operator.attrgetter('__class__')(x)")),
    ("walrus_class", "hostile", "lambda x: (y := x.__class__) and x",
     expect(DENY, ["KV504"], None)),
    ("nested_lambda", "hostile", 'lambda x: (lambda y: __import__("os"))(x)',
     expect(DENY, ["KV504"], None)),
    ("genexp_next", "hostile", "lambda x: next(c for c in x)", expect(DENY, ["KV504"], None)),
    ("marshal_loads", "hostile", "lambda x: marshal.loads(x)",
     expect(DENY, ["KV505", "KV508"], "lambda x: marshal.loads(x)", bandit=["B302"])),
    ("reexport_system", "hostile", 'lambda x: keras.src.utils.python_utils.os.system("true")',
     expect(DENY, ["KV505"], "lambda x: keras.src.utils.python_utils.os.system('true')")),
    ("np_load", "hostile", 'lambda x: np.load("/tmp/kerasvet-canary", allow_pickle=True)',
     expect(DENY, ["KV505", "KV508"],
            "lambda x: np.load('/tmp/kerasvet-canary', allow_pickle=True)", bandit=["B108"])),
    ("unsafe_deserialization", "hostile",
     "lambda x: keras.config.enable_unsafe_deserialization()",
     expect(DENY, ["KV505"], "lambda x: keras.config.enable_unsafe_deserialization()")),
    ("tf_py_function", "hostile", "lambda x: tf.py_function(print, [x], [])",
     expect(DENY, ["KV505", "KV505"], "lambda x: tf.py_function(print, [x], [])")),
    ("module_field_system", "hostile", 'lambda x: system("true")',
     expect(DENY, ["KV505"], "lambda x: system('true')")),
    ("tensor_numpy", "hostile", "lambda x: x.numpy()",
     expect(DENY, ["KV505"], "lambda x: x.numpy()")),
    ("shape_class", "hostile", "lambda x: x.shape.__class__",
     expect(DENY, ["KV505", "KV505"], "lambda x: x.shape.__class__")),
    ("star_call", "hostile", "lambda t: ops.concatenate(*t)", expect(DENY, ["KV504"], None)),
    ("kwargs_call", "hostile", 'lambda x, kw={"axis": -1}: ops.mean(x, **kw)',
     expect(DENY, ["KV504"], None)),
    ("const_dos", "hostile", 'lambda x: len("a" * 10**9)',
     expect(DENY, ["KV506"], "lambda x: len('a' * 1000000000)")),
    ("pow_dos", "hostile", "lambda x: x + 2 ** 100000",
     expect(DENY, ["KV506"], "lambda x: x + 2 ** 100000")),
]

# Cases crafted from a real blob of another case, as an attacker would: (id, base case,
# what, expectation). The base lambda is compiled and dumped by the producing interpreter,
# then its code object or its bytes are altered here; see craft().
CRAFTED: list[tuple[str, str, str, dict[str, Any]]] = [
    ("closure_extra_value", "closure", "keras closure list with one value too many",
     expect(DENY, ["KV506"], "lambda x: x * k")),
    ("closure_missing", "closure", "keras closure list removed",
     expect(DENY, ["KV506"], "lambda x: x * k")),
    ("defaults_too_many", "default_arg", "three defaults for two parameters",
     expect(DENY, ["KV506"], "lambda x, y: x * y")),
    ("oob_const", "mul2", "LOAD_CONST argument patched to 200 (past co_consts)",
     expect(DENY, ["KV503"], None)),
    ("extended_arg", "mul2", "LOAD_CONST 256 through EXTENDED_ARG (co_consts padded)",
     expect(DENY, ["KV504"], None)),
    ("varname_injection", "mul2", "co_varnames holds source text instead of a name",
     expect(DENY, ["KV504"], None)),
    ("extra_names", "mul2", "unused names os and system added to co_names",
     ok("lambda x: x * 2")),
    ("hidden_cache_import", "len_call",
     "IMPORT_NAME os hidden in LOAD_GLOBAL's inline cache, reached by JUMP_FORWARD",
     expect(DENY, ["KV503"], None)),
]
CACHE_VERSIONS = ((3, 11), (3, 12), (3, 13))
"""Versions with inline caches, where hidden_cache_import exists."""
BASES = {"len_call": "lambda x: len(x)"}
"""Base lambdas only used for crafting."""


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


def make(source: str) -> Any:
    """Build (never call) the function ``source`` evaluates to."""
    return eval(compile(source, FILENAME, "eval"), {"__builtins__": {}})


def native_summary(blob: bytes, case_id: str, fn: Any = None) -> Any:
    """What this interpreter's own marshal and dis make of our own, well-formed blob."""
    import marshal

    native = marshal.loads(blob)
    expected = summary(native)
    # FLAG_REF bits depend on reference counts, so compare structure, not bytes.
    if fn is not None and expected != summary(fn.__code__):
        raise SystemExit(f"marshal round trip changed {case_id}")
    return expected


def encode(blob: bytes, defaults: Any, closure: Any) -> dict[str, Any]:
    """A Keras 3 Lambda-layer config around ``blob``."""
    return {"code": base64.encodebytes(blob).decode("ascii"), "defaults": defaults,
            "closure": closure}


def first(code: Any, opname: str) -> Any:
    """The first instruction called ``opname`` in our own code object."""
    import dis

    return next(i for i in dis.get_instructions(code) if i.opname == opname)


def craft(case_id: str, base: Any) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Alter a real function's dump the way an attacker would.

    Returns the Keras node, the native summary (``None`` where native tools cannot describe
    the blob truthfully) and extra facts to record.
    """
    import dis
    import marshal
    import opcode

    node = keras_dump(base)
    blob = base64.decodebytes(node["code"].encode("ascii"))
    code = base.__code__
    extra: dict[str, Any] = {}
    if case_id == "closure_extra_value":
        return dict(node, closure=node["closure"] + [5]), native_summary(blob, case_id), extra
    if case_id == "closure_missing":
        return dict(node, closure=None), native_summary(blob, case_id), extra
    if case_id == "defaults_too_many":
        return dict(node, defaults=[1, 2, 3]), native_summary(blob, case_id), extra
    if case_id == "oob_const":
        load = first(code, "LOAD_CONST")
        raw = code.co_code
        patched = raw[:load.offset + 1] + bytes([200]) + raw[load.offset + 2:]
        if blob.count(raw) != 1:
            raise SystemExit("co_code is not unique in the blob")
        # Native dis would raise IndexError on this code: record no native summary.
        return encode(blob.replace(raw, patched), None, None), None, extra
    if case_id == "extended_arg":
        load = first(code, "LOAD_CONST")
        consts = list(code.co_consts)
        value = consts[load.arg]
        while len(consts) < 256:
            consts.append(-1000 - len(consts))
        consts.append(value)  # index 256 = EXTENDED_ARG 1, LOAD_CONST 0
        raw = bytearray(code.co_code)
        raw[load.offset:load.offset + 2] = bytes(
            [opcode.opmap["EXTENDED_ARG"], 1, opcode.opmap["LOAD_CONST"], 0])
        changed = code.replace(co_code=bytes(raw), co_consts=tuple(consts))
        blob = marshal.dumps(changed)
        return encode(blob, None, None), native_summary(blob, case_id), extra
    if case_id == "varname_injection":
        changed = code.replace(co_varnames=("x=__import__('os')",))
        blob = marshal.dumps(changed)
        return encode(blob, None, None), native_summary(blob, case_id), extra
    if case_id == "extra_names":
        changed = code.replace(co_names=("os", "system"))
        blob = marshal.dumps(changed)
        return encode(blob, None, None), native_summary(blob, case_id), extra
    if case_id == "hidden_cache_import":
        # lambda-analysis.md section 3, exp6: RESUME; JUMP_FORWARD into LOAD_GLOBAL's cache,
        # where LOAD_CONST 0; LOAD_CONST None; IMPORT_NAME os; RETURN_VALUE sit.
        raw = code.co_code
        instructions = list(dis.get_instructions(code))
        if instructions[0].opname != "RESUME" or instructions[1].opname != "LOAD_GLOBAL":
            raise SystemExit("unexpected prologue for hidden_cache_import")
        cache_bytes = instructions[2].offset - instructions[1].offset - 2
        payload = bytes([
            opcode.opmap["LOAD_CONST"], 1, opcode.opmap["LOAD_CONST"], 0,
            opcode.opmap["IMPORT_NAME"], 1, opcode.opmap["RETURN_VALUE"], 0,
        ])
        if cache_bytes < len(payload):
            raise SystemExit("LOAD_GLOBAL cache too small for the payload")
        zeroed = raw[:2] + bytes([opcode.opmap["JUMP_FORWARD"], 1]) + raw[2:]
        changed = code.replace(co_code=zeroed, co_consts=(None, 0), co_names=("len", "os"))
        blob = marshal.dumps(changed)  # writes the caches zeroed
        if blob.count(zeroed) != 1:
            raise SystemExit("co_code is not unique in the blob")
        hidden = zeroed[:6] + payload + zeroed[6 + len(payload):]
        blob = blob.replace(zeroed, hidden)
        if sys.version_info[:2] == (3, 11):
            # What dis shows of the crafted blob: co_code is the de-optimized copy, so the
            # import stays invisible (a crafted blob of our own making, loaded here only).
            loaded = marshal.loads(blob)
            extra["native_dis"] = [i.opname for i in dis.get_instructions(loaded)]
        extra["co_code"] = hidden.hex()
        return encode(blob, None, None), None, extra
    raise SystemExit(f"unknown crafted case {case_id}")


def emit() -> dict[str, Any]:
    """Dump every case under the running interpreter, with its native expectations."""
    import marshal

    cases = []
    for case_id, group, source, expectation in CASES:
        # Evaluating the expression only builds the function object; its body never runs.
        fn = make(source)
        node = keras_dump(fn)
        blob = base64.decodebytes(node["code"].encode("ascii"))
        # Our own blob, under the interpreter that just wrote it: the trusted oracle.
        cases.append({
            "id": case_id,
            "group": group,
            "source": source,
            "keras": node,
            "expected": native_summary(blob, case_id, fn),
            "expect": expectation,
        })
    sources = dict(BASES, **{c[0]: c[2] for c in CASES})
    for case_id, base_id, what, expectation in CRAFTED:
        if case_id == "hidden_cache_import" and sys.version_info[:2] not in CACHE_VERSIONS:
            continue
        node, expected, extra = craft(case_id, make(sources[base_id]))
        cases.append({
            "id": case_id,
            "group": "crafted",
            "source": sources[base_id],
            "crafted": dict(extra, base=base_id, what=what),
            "keras": node,
            "expected": expected,
            "expect": expectation,
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
