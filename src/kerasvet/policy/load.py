"""Read policy TOML in two steps: check the raw tables strictly, then merge ``extends``."""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from kerasvet.errors import PolicyError
from kerasvet.findings import Severity
from kerasvet.limits import Limits
from kerasvet.policy.lines import KeyLines, line_of
from kerasvet.policy.model import (
    FORBIDDEN_PATTERNS,
    JSON_TYPES,
    NAME_TABLES,
    REMOVABLE_LAMBDA_KEYS,
    REMOVABLE_SECTIONS,
    ArgumentConstraint,
    CustomKind,
    CustomObject,
    DenyKind,
    DenyRule,
    LambdaMode,
    LambdaPolicy,
    Policy,
    PolicyFileError,
    PolicyTest,
    Removal,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["SHIPPED_DIR", "load_policy", "shipped_policy_names"]

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "policies"
"""Where the policies that ship with kerasvet live (``policies/`` in the repository)."""

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_REGISTERED = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*>[A-Za-z_][A-Za-z0-9_]*")
"""``package>Name``: Keras' ``register_keras_serializable`` spelling of a custom object."""
_OBJECT = re.compile(r"(?P<module>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
                     r"(?::(?P<qualname>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*))?")
"""``module.Name``, or ``module:Outer.Name`` when the qualname itself has dots."""
_TOP_KEYS = frozenset(
    {"name", "description", "extends", "limits", "lambdas", "classes", "functions", "names",
     "deny", "arguments", "custom", "tests", "remove"}
)
_CUSTOM_KEYS = frozenset({"registered_name", "object", "kind"})
_TEST_KEYS = frozenset({"name", "artifact", "config", "verdict", "rules"})
_TEST_VERDICTS = ("allow", "deny")
_RULE_ID = re.compile(r"KV[0-9]{3}")
_DENY_KEYS = frozenset({"module", "module_prefix", "names", "kind", "reason", "advisory"})
_LAMBDA_KEYS = frozenset(
    {"mode", "roots", "calls", "builtins", "attributes", "bandit_severity", "max_code_chars"}
)
_CONSTRAINT_KEYS = frozenset({"types", "min", "max", "max_length", "max_items", "max_depth",
                              "enum", "forbid", "pattern", "nodes", "reason"})
_NODE_TARGET = re.compile(rf"(?:{_MODULE.pattern})\.[A-Za-z_][A-Za-z0-9_]*|{_REGISTERED.pattern}")
"""What a constraint's ``nodes`` may list: ``module.Class``, or a registered ``package>Name``."""
_MAX_EXTENDS_DEPTH = 16


def shipped_policy_names() -> tuple[str, ...]:
    """Names of the policies that ship with kerasvet."""
    return tuple(sorted(p.stem for p in SHIPPED_DIR.glob("*.toml")))


@dataclass(frozen=True, slots=True)
class _RawPolicy:
    """One file's checked tables, before ``extends`` is merged."""

    path: Path
    digest: bytes
    name: str
    description: str
    extends: tuple[str, ...]
    limits: Mapping[str, int]
    lambdas: Mapping[str, object]
    classes: Mapping[str, frozenset[str]]
    functions: Mapping[str, frozenset[str]]
    names: Mapping[str, frozenset[str]]
    deny: tuple[DenyRule, ...]
    arguments: Mapping[str, Mapping[str, ArgumentConstraint]]
    custom: tuple[CustomObject, ...] = ()
    tests: tuple[PolicyTest, ...] = ()
    remove: tuple[Removal, ...] = ()


def _fail(path: Path, where: str, message: str, key: str | None = None) -> PolicyError:
    """An error naming the file, the location and (found by a text search) the line."""
    return PolicyFileError(path, where, message, line_of(path, where, key))


def _expect(path: Path, where: str, value: object, kind: type | tuple[type, ...]) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _fail(path, where, f"expected {names}, got {type(value).__name__}")


def _unknown(path: Path, where: str, table: Mapping[str, object], known: frozenset[str]) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise _fail(path, where, f"unknown key(s) {', '.join(map(repr, extra))}; "
                                 f"allowed: {', '.join(sorted(known))}", key=extra[0])


def _ascii_ident(path: Path, where: str, value: object, pattern: re.Pattern[str]) -> str:
    _expect(path, where, value, str)
    assert isinstance(value, str)
    if not value.isascii() or not pattern.fullmatch(value):
        raise _fail(path, where, f"{value!r} is not a plain ASCII identifier")
    return value


def _name_table(path: Path, where: str, table: object) -> dict[str, frozenset[str]]:
    _expect(path, where, table, dict)
    assert isinstance(table, dict)
    result: dict[str, frozenset[str]] = {}
    for module, names in table.items():
        here = f"{where}.{module}"
        if isinstance(module, str) and ("*" in module or module.endswith(".")):
            raise _fail(path, here, f"{module!r} is a prefix or wildcard; allow lists name "
                                    "exact modules, as Keras writes them (a prefix is only "
                                    "for `[[deny]] module_prefix`)")
        module_name = _ascii_ident(path, here, module, _MODULE)
        _expect(path, here, names, list)
        result[module_name] = frozenset(_ascii_ident(path, here, n, _IDENT) for n in names)
    return result


def _constraint(path: Path, where: str, table: object) -> ArgumentConstraint:
    _expect(path, where, table, dict)
    assert isinstance(table, dict)
    _unknown(path, where, table, _CONSTRAINT_KEYS)
    types = table.get("types")
    if types is not None:
        _expect(path, f"{where}.types", types, list)
        bad = [t for t in types if t not in JSON_TYPES]
        if bad:
            raise _fail(path, f"{where}.types", f"unknown type(s) {bad}; "
                                                f"allowed: {', '.join(sorted(JSON_TYPES))}")
    for key in ("min", "max"):
        if key in table:
            _expect(path, f"{where}.{key}", table[key], (int, float))
    for key in ("max_length", "max_items", "max_depth"):
        if key in table:
            _expect(path, f"{where}.{key}", table[key], int)
            if table[key] < 0:
                raise _fail(path, f"{where}.{key}", "must not be negative")
    pattern = table.get("pattern")
    if pattern is not None:
        _expect(path, f"{where}.pattern", pattern, str)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(path, f"{where}.pattern", f"not a valid regular expression: {exc}") \
                from None
    nodes = table.get("nodes")
    if nodes is not None:
        _expect(path, f"{where}.nodes", nodes, list)
        for target in nodes:
            _expect(path, f"{where}.nodes", target, str)
            if not target.isascii() or not _NODE_TARGET.fullmatch(target):
                raise _fail(path, f"{where}.nodes",
                            f"{target!r} is not `module.Class` or a registered `package>Name`")
    enum = table.get("enum")
    if enum is not None:
        _expect(path, f"{where}.enum", enum, list)
    forbid = table.get("forbid", [])
    _expect(path, f"{where}.forbid", forbid, list)
    bad = [f for f in forbid if f not in FORBIDDEN_PATTERNS]
    if bad:
        raise _fail(path, f"{where}.forbid", f"unknown pattern(s) {bad}; "
                                             f"allowed: {', '.join(sorted(FORBIDDEN_PATTERNS))}")
    reason = table.get("reason")
    if reason is not None:
        _expect(path, f"{where}.reason", reason, str)
    return ArgumentConstraint(
        types=frozenset(types) if types is not None else None,
        minimum=table.get("min"),
        maximum=table.get("max"),
        max_length=table.get("max_length"),
        max_items=table.get("max_items"),
        max_depth=table.get("max_depth"),
        enum=tuple(enum) if enum is not None else None,
        forbid=frozenset(forbid),
        pattern=pattern,
        nodes=frozenset(nodes) if nodes is not None else None,
        reason=reason,
        source=str(path),
    )


def _deny_rule(path: Path, where: str, table: object) -> DenyRule:
    _expect(path, where, table, dict)
    assert isinstance(table, dict)
    _unknown(path, where, table, _DENY_KEYS)
    module = table.get("module")
    prefix = table.get("module_prefix")
    if (module is None) == (prefix is None):
        raise _fail(path, where, "give exactly one of `module` and `module_prefix`")
    if module is not None:
        _ascii_ident(path, f"{where}.module", module, _MODULE)
    if prefix is not None:
        _ascii_ident(path, f"{where}.module_prefix", prefix, _MODULE)
    names = table.get("names")
    if names is not None:
        _expect(path, f"{where}.names", names, list)
        names = frozenset(_ascii_ident(path, f"{where}.names", n, _IDENT) for n in names)
    kind_text = table.get("kind", "any")
    try:
        kind = DenyKind(kind_text)
    except ValueError:
        raise _fail(path, f"{where}.kind", f"{kind_text!r} is not class, function or any") from None
    reason = table.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise _fail(path, f"{where}.reason", "every deny rule needs a reason")
    advisory = table.get("advisory")
    if advisory is not None:
        _expect(path, f"{where}.advisory", advisory, str)
    return DenyRule(reason=reason, module=module, module_prefix=prefix, names=names, kind=kind,
                    advisory=advisory, source=str(path))


def _custom_object(path: Path, where: str, table: object) -> CustomObject:
    """One ``[[custom]]`` entry: an exact registered name and the object it may bind."""
    _expect(path, where, table, dict)
    assert isinstance(table, dict)
    _unknown(path, where, table, _CUSTOM_KEYS)
    for key in ("registered_name", "object"):
        if key not in table:
            raise _fail(path, where, f"`{key}` is required")
    registered = table["registered_name"]
    _expect(path, f"{where}.registered_name", registered, str)
    if not registered.isascii() or not _REGISTERED.fullmatch(registered):
        raise _fail(path, f"{where}.registered_name",
                    f"{registered!r} is not `package>Name` (as Keras writes registered_name)")
    target = table["object"]
    _expect(path, f"{where}.object", target, str)
    match = _OBJECT.fullmatch(target) if target.isascii() else None
    if match is None:
        raise _fail(path, f"{where}.object",
                    f"{target!r} is not a Python object path (`module.Name`, or "
                    f"`module:Outer.Name` for a nested class)")
    module, qualname = match.group("module"), match.group("qualname")
    if qualname is None:
        module, _, qualname = module.rpartition(".")
        if not module:
            raise _fail(path, f"{where}.object",
                        f"{target!r} names no module; write `module.{target}`")
    kind_text = table.get("kind", "class")
    try:
        kind = CustomKind(kind_text)
    except ValueError:
        raise _fail(path, f"{where}.kind", f"{kind_text!r} is not class or function") from None
    return CustomObject(registered_name=registered, module=module, qualname=qualname,
                        kind=kind, source=str(path))


def _policy_test(path: Path, where: str, table: object) -> PolicyTest:
    """One ``[[tests]]`` case; ``artifact`` is resolved against the policy file's folder
    (``path`` is already resolved, so a symlinked policy folder does not matter)."""
    _expect(path, where, table, dict)
    assert isinstance(table, dict)
    _unknown(path, where, table, _TEST_KEYS)
    for key in ("name", "verdict"):
        if key not in table:
            raise _fail(path, where, f"`{key}` is required")
    name = table["name"]
    _expect(path, f"{where}.name", name, str)
    if not name.strip():
        raise _fail(path, f"{where}.name", "must not be empty")
    verdict = table["verdict"]
    if verdict not in _TEST_VERDICTS:
        raise _fail(path, f"{where}.verdict", f"{verdict!r} is not allow or deny")
    artifact, config = table.get("artifact"), table.get("config")
    if (artifact is None) == (config is None):
        raise _fail(path, where, "give exactly one of `artifact` (a path relative to this "
                                 "file) and `config` (an inline Keras config table)")
    resolved: Path | None = None
    if artifact is not None:
        _expect(path, f"{where}.artifact", artifact, str)
        if not artifact.strip():
            raise _fail(path, f"{where}.artifact", "must not be empty")
        resolved = Path(artifact)
        if not resolved.is_absolute():
            resolved = path.parent / resolved
        resolved = resolved.resolve()
    if config is not None:
        _expect(path, f"{where}.config", config, dict)
    rules = table.get("rules")
    if rules is not None:
        _expect(path, f"{where}.rules", rules, list)
        for rule in rules:
            _expect(path, f"{where}.rules", rule, str)
            if not _RULE_ID.fullmatch(rule):
                raise _fail(path, f"{where}.rules", f"{rule!r} is not a rule id like KV302")
        rules = frozenset(rules)
        if verdict == "allow" and rules:
            raise _fail(path, f"{where}.rules",
                        "an allow verdict means no denying findings; `rules` must be empty")
    return PolicyTest(name=name, verdict=verdict, artifact=resolved, config=config,
                      rules=rules, source=str(path))


def _lambda_section(path: Path, table: object) -> dict[str, object]:
    """Check ``[lambdas]``; values are already converted (mode, severity, sets)."""
    _expect(path, "lambdas", table, dict)
    assert isinstance(table, dict)
    _unknown(path, "lambdas", table, _LAMBDA_KEYS)
    section: dict[str, object] = {}
    if "mode" in table:
        try:
            section["mode"] = LambdaMode(table["mode"])
        except ValueError:
            modes = ", ".join(m.value for m in LambdaMode)
            raise _fail(path, "lambdas.mode",
                        f"{table['mode']!r} is not one of: {modes}") from None
    if "bandit_severity" in table:
        try:
            section["bandit_severity"] = Severity.parse(str(table["bandit_severity"]))
        except ValueError as exc:
            raise _fail(path, "lambdas.bandit_severity", str(exc)) from None
    if "max_code_chars" in table:
        _expect(path, "lambdas.max_code_chars", table["max_code_chars"], int)
        section["max_code_chars"] = table["max_code_chars"]
    roots = table.get("roots", {})
    _expect(path, "lambdas.roots", roots, dict)
    section["roots"] = {
        _ascii_ident(path, "lambdas.roots", name, _IDENT):
            _ascii_ident(path, f"lambdas.roots.{name}", module, _MODULE)
        for name, module in roots.items()
    }
    for key, pattern in (("calls", _MODULE), ("builtins", _IDENT), ("attributes", _IDENT)):
        values = table.get(key, [])
        _expect(path, f"lambdas.{key}", values, list)
        section[key] = frozenset(_ascii_ident(path, f"lambdas.{key}", v, pattern)
                                 for v in values)
    return section


def _removals(path: Path, table: object) -> list[Removal]:
    """Check ``[remove]``: each entry names one inherited thing, spelled as where it was
    added (``[remove.classes] "keras.layers" = ["LSTM"]``, ``[remove] custom = ["p>N"]``)."""
    _expect(path, "remove", table, dict)
    assert isinstance(table, dict)
    _unknown(path, "remove", table, frozenset(REMOVABLE_SECTIONS))
    found: list[Removal] = []
    for section in ("classes", "functions"):
        for module, names in _name_table(path, f"remove.{section}",
                                         table.get(section, {})).items():
            found.extend(Removal(section, module, name) for name in sorted(names))
    for key, values in _string_lists(path, "remove.names", table.get("names", {}),
                                     frozenset(NAME_TABLES)).items():
        found.extend(Removal("names", key, value) for value in values)
    custom = table.get("custom", [])
    _expect(path, "remove.custom", custom, list)
    for registered in custom:
        _expect(path, "remove.custom", registered, str)
        if not registered.isascii() or not _REGISTERED.fullmatch(registered):
            raise _fail(path, "remove.custom", f"{registered!r} is not `package>Name`")
        found.append(Removal("custom", "", registered))
    for target, argument_names in _string_lists(path, "remove.arguments",
                                                table.get("arguments", {})).items():
        found.extend(Removal("arguments", target, argument) for argument in argument_names)
    for key, values in _string_lists(path, "remove.lambdas", table.get("lambdas", {}),
                                     frozenset(REMOVABLE_LAMBDA_KEYS)).items():
        found.extend(Removal(f"lambdas.{key}", "", value) for value in values)
    return found


def _string_lists(path: Path, where: str, table: object,
                  known: frozenset[str] | None = None) -> dict[str, list[str]]:
    """A ``key -> [ASCII strings]`` table (``[names]``, and the lists of ``[remove]``)."""
    _expect(path, where, table, dict)
    assert isinstance(table, dict)
    if known is not None:
        _unknown(path, where, table, known)
    result: dict[str, list[str]] = {}
    for key, values in table.items():
        _expect(path, f"{where}.{key}", values, list)
        for value in values:
            _expect(path, f"{where}.{key}", value, str)
            if not value.isascii():
                raise _fail(path, f"{where}.{key}", f"{value!r} is not ASCII")
        result[key] = list(values)
    return result


def _refuse_repeats(path: Path, table: str, key: str, values: list[str]) -> None:
    """Two entries of one array of tables may not share their identifying key."""
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise _fail(path, f"{table}[{index}].{key}",
                        f"{value!r} appears in two [[{table}]] entries in this file")
        seen.add(value)


def _read_raw(path: Path) -> _RawPolicy:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy {path}: {exc.strerror or exc}") from None
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyFileError(path, "syntax", f"not valid TOML: {exc}") from None
    _unknown(path, "top level", table, _TOP_KEYS)
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail(path, "name", "required; lower-case letters, digits and dashes")
    description = table.get("description", "")
    _expect(path, "description", description, str)
    extends = table.get("extends", [])
    _expect(path, "extends", extends, list)
    for parent in extends:
        _expect(path, "extends", parent, str)
    limits_table = table.get("limits", {})
    _expect(path, "limits", limits_table, dict)
    _unknown(path, "limits", limits_table, frozenset(Limits.names()))
    for key, value in limits_table.items():
        _expect(path, f"limits.{key}", value, int)
        if value <= 0:
            raise _fail(path, f"limits.{key}", "must be a positive integer")
    lambdas = _lambda_section(path, table.get("lambdas", {}))
    names = {key: frozenset(values) for key, values in _string_lists(
        path, "names", table.get("names", {}), frozenset(NAME_TABLES)).items()}
    deny_list = table.get("deny", [])
    _expect(path, "deny", deny_list, list)
    deny = tuple(_deny_rule(path, f"deny[{i}]", d) for i, d in enumerate(deny_list))
    arguments_table = table.get("arguments", {})
    _expect(path, "arguments", arguments_table, dict)
    arguments: dict[str, dict[str, ArgumentConstraint]] = {}
    for target, per_arg in arguments_table.items():
        if target != "*" and not (isinstance(target, str) and target.isascii()
                                  and _REGISTERED.fullmatch(target)):
            _ascii_ident(path, f"arguments.{target}", target, _MODULE)
        _expect(path, f"arguments.{target}", per_arg, dict)
        arguments[target] = {
            arg: _constraint(path, f"arguments.{target}.{arg}", spec)
            for arg, spec in per_arg.items()
        }
    custom_list = table.get("custom", [])
    _expect(path, "custom", custom_list, list)
    custom = tuple(_custom_object(path, f"custom[{i}]", c) for i, c in enumerate(custom_list))
    _refuse_repeats(path, "custom", "registered_name",
                    [entry.registered_name for entry in custom])
    tests_list = table.get("tests", [])
    _expect(path, "tests", tests_list, list)
    tests = tuple(_policy_test(path, f"tests[{i}]", t) for i, t in enumerate(tests_list))
    _refuse_repeats(path, "tests", "name", [case.name for case in tests])
    remove = _removals(path, table.get("remove", {}))
    # Sources are ``path:line`` so `policy show` and findings point at the exact rule.
    lines = KeyLines.scan(data.decode("utf-8"))
    custom = tuple(replace(entry, source=_source(path, lines, f"custom[{i}]"))
                   for i, entry in enumerate(custom))
    deny = tuple(replace(rule, source=_source(path, lines, f"deny[{i}]"))
                 for i, rule in enumerate(deny))
    tests = tuple(replace(case, source=_source(path, lines, f"tests[{i}]"))
                  for i, case in enumerate(tests))
    arguments = {
        target: {arg: replace(c, source=_source(path, lines, f"arguments.{target}.{arg}"))
                 for arg, c in per_arg.items()}
        for target, per_arg in arguments.items()
    }
    remove = [replace(entry, source=_source(path, lines, _removal_where(entry)))
              for entry in remove]
    return _RawPolicy(
        path=path,
        digest=hashlib.sha256(data).digest(),
        name=name,
        description=description,
        extends=tuple(extends),
        limits=limits_table,
        lambdas=lambdas,
        classes=_name_table(path, "classes", table.get("classes", {})),
        functions=_name_table(path, "functions", table.get("functions", {})),
        names=names,
        deny=deny,
        arguments=arguments,
        custom=custom,
        tests=tests,
        remove=tuple(remove),
    )


def _removal_where(entry: Removal) -> str:
    """The dotted location of a removal's key, as ``KeyLines`` indexes it."""
    if entry.section in ("classes", "functions", "names", "arguments"):
        return f"remove.{entry.section}.{entry.key}"
    if entry.section == "custom":
        return "remove.custom"
    return f"remove.{entry.section}"


def _source(path: Path, lines: KeyLines, where: str) -> str:
    """``path:line`` for a rule, or ``path`` alone when the text search finds nothing."""
    line = lines.find(where)
    return f"{path}:{line}" if line is not None else str(path)


def _locate(reference: str, relative_to: Path | None) -> Path:
    """A shipped policy name, or a path (relative to the file that extends it)."""
    if _NAME.fullmatch(reference) and not reference.endswith(".toml"):
        path = SHIPPED_DIR / f"{reference}.toml"
        if not path.is_file():
            known = ", ".join(shipped_policy_names())
            raise PolicyError(f"unknown policy {reference!r}; shipped policies: {known}")
        return path
    path = Path(reference)
    if relative_to is not None and not path.is_absolute():
        path = relative_to / path
    if not path.is_file():
        raise PolicyError(f"policy file {path} does not exist")
    return path


def _merge_order(root: Path) -> list[_RawPolicy]:
    """Depth-first parents-first order, each file once; cycles are errors."""
    order: list[_RawPolicy] = []
    done: set[Path] = set()
    # Explicit stack of (raw policy, index of next parent to visit, chain of paths).
    first = _read_raw(root)
    stack: list[tuple[_RawPolicy, int]] = [(first, 0)]
    chain: list[Path] = [root.resolve()]
    while stack:
        raw, index = stack.pop()
        if index < len(raw.extends):
            stack.append((raw, index + 1))
            try:
                parent_path = _locate(raw.extends[index], raw.path.parent).resolve()
            except PolicyError as exc:
                # Name the file that asked for the parent, not just the parent.
                raise _fail(raw.path, "extends", str(exc)) from None
            if parent_path in chain:
                cycle = " -> ".join(str(p) for p in [*chain, parent_path])
                raise _fail(raw.path, "extends", f"`extends` forms a cycle: {cycle}")
            if parent_path in done:
                continue
            if len(chain) >= _MAX_EXTENDS_DEPTH:
                raise _fail(raw.path, "extends", f"`extends` is nested more than "
                                                 f"{_MAX_EXTENDS_DEPTH} levels deep")
            chain.append(parent_path)
            stack.append((_read_raw(parent_path), 0))
        else:
            done.add(chain.pop())
            order.append(raw)
    return order


def load_policy(reference: str | Path) -> Policy:
    """Load a shipped policy by name, or a policy file by path, with ``extends`` merged."""
    path = _locate(str(reference), None) if isinstance(reference, str) else reference
    if not path.is_file():
        raise PolicyError(f"policy file {path} does not exist")
    order = _merge_order(path.resolve())
    limits = Limits()
    lambda_settings: dict[str, object] = {}
    lambda_roots: dict[str, str] = {}
    lambda_sets: dict[str, set[str]] = {"calls": set(), "builtins": set(), "attributes": set()}
    classes: dict[str, set[str]] = {}
    functions: dict[str, set[str]] = {}
    names: dict[str, set[str]] = {}
    deny: list[DenyRule] = []
    arguments: dict[str, dict[str, ArgumentConstraint]] = {}
    custom: dict[str, CustomObject] = {}
    digest = hashlib.sha256()
    removed: list[Removal] = []
    for raw in order:
        digest.update(raw.digest)
        for entry in raw.remove:
            # Removals act on what the parents built, before this file adds its own.
            holder: Mapping[str, object]
            if entry.section in ("classes", "functions", "names"):
                table = {"classes": classes, "functions": functions, "names": names}
                holder = table[entry.section].get(entry.key, set())  # type: ignore[assignment]
            elif entry.section == "custom":
                holder = custom
            elif entry.section == "arguments":
                holder = arguments.get(entry.key, {})
            elif entry.section == "lambdas.roots":
                holder = lambda_roots
            else:
                holder = lambda_sets[entry.section.partition(".")[2]]  # type: ignore[assignment]
            if entry.name not in holder:
                raise _fail(raw.path, _removal_where(entry),
                            f"removes {entry.shown}, which no parent policy allows "
                            f"(removals act on what `extends` brings in)")
            if isinstance(holder, set):
                holder.discard(entry.name)
            else:
                del holder[entry.name]  # type: ignore[attr-defined]
            removed.append(entry)
        _refuse_remove_and_add(raw)
        limits = replace(limits, **raw.limits)
        cap = _lambda_code_cap(raw)
        if cap is not None:  # one setting, two spellings: the file that sets it wins
            limits = replace(limits, max_lambda_code_chars=cap)
            lambda_settings["max_code_chars"] = cap
        for key, value in raw.lambdas.items():
            if key == "roots":
                lambda_roots.update(value)  # type: ignore[call-overload]
            elif key in lambda_sets:
                lambda_sets[key].update(value)  # type: ignore[arg-type]
            elif key != "max_code_chars":  # merged with its [limits] spelling above
                lambda_settings[key] = value
        for target, source in ((classes, raw.classes), (functions, raw.functions),
                               (names, raw.names)):
            for key, values in source.items():
                target.setdefault(key, set()).update(values)
        deny.extend(raw.deny)
        for cls, per_arg in raw.arguments.items():
            arguments.setdefault(cls, {}).update(per_arg)
        custom.update((entry.registered_name, entry) for entry in raw.custom)
    for raw in order:
        for key in raw.arguments:
            if ">" in key and key not in custom:
                raise _fail(raw.path, f"arguments.{key}",
                            f"constraints for {key!r}, which has no [[custom]] entry "
                            f"in this policy or its parents")
    legacy: dict[str, set[str]] = {}
    for module, class_names in classes.items():
        for class_name in class_names:
            legacy.setdefault(class_name, set()).add(module)
    scopes: dict[str, list[tuple[int, DenyRule]]] = {}
    for position, rule in enumerate(deny):
        scope = rule.module if rule.module is not None else rule.module_prefix
        assert scope is not None
        scopes.setdefault(scope, []).append((position, rule))
        if rule.names is not None:
            scopes.setdefault("", []).append((position, rule))
    top = order[-1]
    return Policy(
        name=top.name,
        sha256=digest.hexdigest(),
        sources=tuple(str(raw.path) for raw in order),
        limits=limits,
        lambdas=LambdaPolicy(
            roots=dict(sorted(lambda_roots.items())),
            calls=frozenset(lambda_sets["calls"]),
            builtins=frozenset(lambda_sets["builtins"]),
            attributes=frozenset(lambda_sets["attributes"]),
            **lambda_settings,  # type: ignore[arg-type]
        ),
        classes={m: frozenset(v) for m, v in sorted(classes.items())},
        functions={m: frozenset(v) for m, v in sorted(functions.items())},
        names={k: frozenset(v) for k, v in sorted(names.items())},
        deny=tuple(deny),
        arguments={c: dict(a) for c, a in arguments.items()},
        custom=dict(sorted(custom.items())),
        description=top.description,
        legacy_classes={c: tuple(sorted(m)) for c, m in legacy.items()},
        deny_by_scope={s: tuple(rules) for s, rules in scopes.items()},
        tests=top.tests,
        removed=tuple(removed),
        deny_exceptions=_deny_exceptions(order, deny, classes, functions),
    )


def _lambda_code_cap(raw: _RawPolicy) -> int | None:
    """The lambda code cap this file sets, under either spelling (``[limits]
    max_lambda_code_chars`` or ``[lambdas] max_code_chars``); both with different values
    in one file is an error, since only one can apply."""
    in_limits = raw.limits.get("max_lambda_code_chars")
    in_lambdas = raw.lambdas.get("max_code_chars")
    if in_limits is not None and in_lambdas is not None and in_limits != in_lambdas:
        raise _fail(raw.path, "lambdas.max_code_chars",
                    f"{in_lambdas} disagrees with limits.max_lambda_code_chars = {in_limits}; "
                    "they are one setting: give it once")
    value = in_limits if in_limits is not None else in_lambdas
    assert value is None or isinstance(value, int)
    return value


def _refuse_remove_and_add(raw: _RawPolicy) -> None:
    """One file may not take an entry away and give it back: say which one you mean."""
    for entry in raw.remove:
        added = False
        if entry.section in ("classes", "functions", "names"):
            own = {"classes": raw.classes, "functions": raw.functions, "names": raw.names}
            added = entry.name in own[entry.section].get(entry.key, frozenset())
        elif entry.section == "custom":
            added = any(c.registered_name == entry.name for c in raw.custom)
        elif entry.section == "arguments":
            added = entry.name in raw.arguments.get(entry.key, {})
        else:
            values = raw.lambdas.get(entry.section.partition(".")[2], ())
            added = entry.name in values  # type: ignore[operator]
        if added:
            raise _fail(raw.path, _removal_where(entry),
                        f"removes and adds {entry.shown} in the same file")


def _ancestors(order: list[_RawPolicy]) -> list[frozenset[int]]:
    """For each file in merge order, the positions of every file it extends, transitively
    (parents come first in ``order``, so theirs are known when a child is reached)."""
    position = {raw.path.resolve(): index for index, raw in enumerate(order)}
    found: list[frozenset[int]] = []
    for raw in order:
        parents = {position[_locate(reference, raw.path.parent).resolve()]
                   for reference in raw.extends}
        found.append(frozenset(parents.union(*(found[p] for p in parents))))
    return found


def _deny_exceptions(
    order: list[_RawPolicy], deny: list[DenyRule],
    classes: Mapping[str, set[str]], functions: Mapping[str, set[str]],
) -> dict[tuple[int, str, str, str], str]:
    """Exact allows that win over a broad deny rule: only those written in a file that
    extends (directly or through its parents) the rule's file, a child's deliberate exception;
    never a parent's, a sibling's merged later, or the same file's; and never over a rule
    that names the object (equal specificity: deny wins)."""
    rule_file: list[int] = []
    for index, raw in enumerate(order):
        rule_file.extend(index for _ in raw.deny)
    ancestors = _ancestors(order)
    exceptions: dict[tuple[int, str, str, str], str] = {}
    for position, rule in enumerate(deny):
        if not rule.broad:
            continue
        for index in range(rule_file[position] + 1, len(order)):
            if rule_file[position] not in ancestors[index]:
                continue  # merged later, but not a descendant of the rule's file
            raw = order[index]
            lines: KeyLines | None = None
            for kind, own, final in ((DenyKind.CLASS, raw.classes, classes),
                                     (DenyKind.FUNCTION, raw.functions, functions)):
                if rule.kind is not DenyKind.ANY and rule.kind is not kind:
                    continue
                for module, names in own.items():
                    if not rule.covers_module(module):
                        continue
                    for name in sorted(names & final.get(module, set())):
                        if lines is None:
                            lines = KeyLines.scan(raw.path.read_text(encoding="utf-8"))
                        source = _source(raw.path, lines, f"{kind.value}es.{module}"
                                         if kind is DenyKind.CLASS else f"functions.{module}")
                        exceptions.setdefault((position, kind.value, module, name), source)
    return exceptions

