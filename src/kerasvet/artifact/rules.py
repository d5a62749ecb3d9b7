"""Rules emitted while reading an artifact: KV1xx (container) and KV2xx (JSON and grammar),
plus the internal KV0xx rules every stage can raise."""

from __future__ import annotations

from kerasvet.findings import Finding, Location, Rule, RuleId, Severity
from kerasvet.limits import DeadlineExceeded

__all__ = ["RULES", "timed_out"]

_H = Severity.HIGH
_C = Severity.CRITICAL


def _rule(rule_id: str, slug: str, summary: str, severity: Severity, remediation: str) -> Rule:
    return Rule(RuleId(rule_id), slug, summary, severity, remediation)


INTERNAL_ERROR = _rule(
    "KV001", "analysis-error",
    "kerasvet could not finish analysing part of the artifact, so that part is refused.",
    _H, "Report the artifact to the kerasvet maintainers (see SECURITY.md); do not load it.",
)
AUDIT_TIMEOUT = _rule(
    "KV002", "audit-time-exceeded",
    "The audit ran past the policy's wall-time cap, so the rest of the artifact is unread.",
    _H, "Raise `max_audit_seconds` in a policy that extends this one if the artifact is "
    "genuinely that large; an artifact that takes minutes to audit is built to.",
)
UNRECOGNISED_FORMAT = _rule(
    "KV100", "unrecognised-format",
    "The bytes are not a Keras zip, an unzipped .keras folder, an HDF5 file or a JSON config.",
    _H, "Check that the path names a model artifact Keras wrote.",
)
TOO_LARGE = _rule(
    "KV101", "artifact-too-large",
    "The artifact or one of its parts is larger than the policy's size cap.",
    _H, "Raise `max_artifact_bytes` / `max_config_bytes` in a policy that extends this one, "
    "if the artifact is genuinely that large.",
)
ZIP_TOO_MANY_MEMBERS = _rule(
    "KV102", "zip-too-many-members",
    "The zip lists more members than the policy allows.",
    _H, "A .keras file written by Keras has three members plus assets; raise "
    "`max_zip_members` only for models that ship many assets.",
)
ZIP_RATIO = _rule(
    "KV103", "zip-compression-ratio",
    "A zip member declares an uncompressed size far beyond its compressed size (zip bomb).",
    _H, "Keras stores members uncompressed; re-save the model with Keras.",
)
ZIP_UNSAFE_NAME = _rule(
    "KV104", "zip-unsafe-member-name",
    "A zip member name is absolute, climbs out with `..`, uses backslashes or control characters.",
    _C, "Do not extract or load this file; it is built to write outside its folder.",
)
ZIP_SYMLINK = _rule(
    "KV105", "zip-symlink-member",
    "A zip member (or a file in an unzipped .keras folder) is a symbolic link or special file.",
    _C, "Do not extract or load this file; links can make Keras read or write other files.",
)
ZIP_DUPLICATE = _rule(
    "KV106", "zip-duplicate-member",
    "Two zip members share a name, so different readers would see different contents.",
    _C, "Re-save the model with Keras; duplicate members are a parser-differential attack.",
)
ZIP_UNEXPECTED = _rule(
    "KV107", "zip-unexpected-member",
    "The .keras container holds a member Keras does not write.",
    _H, "Keras writes metadata.json, config.json, model.weights.h5 (or .npz) and assets/.",
)
ZIP_PREFIX = _rule(
    "KV108", "zip-polyglot",
    "Bytes precede the zip (or follow it), so the file is also something else (a polyglot).",
    _C, "Do not load this file; re-save the model with Keras.",
)
ZIP_NO_CONFIG = _rule(
    "KV109", "missing-config",
    "The artifact has no model config to audit.",
    _H, "A .keras file must contain config.json; an HDF5 model must carry `model_config`.",
)
ZIP_CORRUPT = _rule(
    "KV110", "container-corrupt",
    "The zip container is damaged, encrypted or uses a feature Keras never writes.",
    _H, "Re-save the model with Keras.",
)
HDF5_EXTERNAL_LINK = _rule(
    "KV111", "hdf5-external-link",
    "An HDF5 file links to an object in another file (CVE-2026-1669).",
    _C, "Do not load this file; external links read other files on the host.",
)
HDF5_SOFT_LINK = _rule(
    "KV112", "hdf5-soft-link",
    "An HDF5 file contains a soft link, which Keras' own readers refuse.",
    _H, "Re-save the weights with Keras; it writes hard links only.",
)
HDF5_EXTERNAL_STORAGE = _rule(
    "KV113", "hdf5-external-storage",
    "An HDF5 dataset keeps its bytes in an external file (CVE-2026-1669).",
    _C, "Do not load this file; external storage reads host files into tensors.",
)
HDF5_VIRTUAL = _rule(
    "KV114", "hdf5-virtual-dataset",
    "An HDF5 dataset is virtual, assembled from other files (CVE-2026-1669).",
    _C, "Do not load this file; virtual datasets read host files into tensors.",
)
HDF5_SHAPE_BOMB = _rule(
    "KV115", "hdf5-shape-bomb",
    "An HDF5 dataset declares far more bytes than the file stores (CVE-2026-0897).",
    _H, "Do not load this file; its weights would exhaust memory.",
)
HDF5_CORRUPT = _rule(
    "KV116", "hdf5-corrupt",
    "The HDF5 file cannot be walked (damaged, truncated, or over the object cap).",
    _H, "Re-save the model with Keras.",
)
WEIGHTS_DTYPE = _rule(
    "KV117", "weights-unsafe-dtype",
    "A weights dataset, attribute or .npy member uses a type that is not plain numbers or "
    "strings (pickled objects, references, opaque bytes, variable-length sequences).",
    _C, "Do not load this file with allow_pickle or an older Keras; re-save the weights with "
    "Keras using the HDF5 format.",
)
JSON_INVALID = _rule(
    "KV200", "json-invalid",
    "The config is not valid UTF-8 JSON.",
    _H, "Re-save the model with Keras.",
)
JSON_DUPLICATE_KEY = _rule(
    "KV201", "json-duplicate-key",
    "A JSON object repeats a key, so two parsers could see two different configs.",
    _C, "Do not load this file; Keras keeps the last value, other tools the first.",
)
JSON_NON_FINITE = _rule(
    "KV202", "json-non-finite",
    "The config contains NaN or Infinity, which JSON does not allow.",
    _H, "Re-save the model with Keras.",
)
JSON_HUGE_NUMBER = _rule(
    "KV203", "json-huge-number",
    "A number in the config is too large to be a real setting.",
    _H, "Raise `max_int_digits` only if a layer genuinely needs such a number.",
)
JSON_TOO_DEEP = _rule(
    "KV204", "json-too-deep",
    "The config nests lists and objects deeper than the policy allows.",
    _H, "Raise `max_json_depth` in a policy that extends this one, for very deep nested models.",
)
JSON_TOO_BIG = _rule(
    "KV205", "json-too-many-values",
    "The config holds more values, nodes or longer strings than the policy allows.",
    _H, "Raise `max_json_values`, `max_nodes` or `max_string_length` for very large models.",
)
NODE_SCHEMA = _rule(
    "KV206", "node-schema",
    "A config node has fields of the wrong type (class_name, module, registered_name, config).",
    _H, "Re-save the model with Keras; these shapes are not ones Keras writes.",
)
CONFIG_ROOT = _rule(
    "KV207", "config-root",
    "The config document is not a model node (for example a top-level list or string).",
    _H, "Pass a model config: a JSON object with `class_name` and `config`.",
)
SHARED_OBJECT_MISMATCH = _rule(
    "KV208", "shared-object-mismatch",
    "Two nodes carry the same `shared_object_id` but different configs.",
    _H, "Re-save the model with Keras; Keras would build only the first of them.",
)
GRAPH_INVALID = _rule(
    "KV209", "functional-graph-invalid",
    "A functional model's layer graph names a layer that does not exist, repeats a name, "
    "or has a cycle.",
    _H, "Re-save the model with Keras.",
)

RULES: tuple[Rule, ...] = (
    INTERNAL_ERROR, AUDIT_TIMEOUT, UNRECOGNISED_FORMAT, TOO_LARGE, ZIP_TOO_MANY_MEMBERS, ZIP_RATIO,
    ZIP_UNSAFE_NAME, ZIP_SYMLINK, ZIP_DUPLICATE, ZIP_UNEXPECTED, ZIP_PREFIX, ZIP_NO_CONFIG,
    ZIP_CORRUPT, HDF5_EXTERNAL_LINK, HDF5_SOFT_LINK, HDF5_EXTERNAL_STORAGE, HDF5_VIRTUAL,
    HDF5_SHAPE_BOMB, HDF5_CORRUPT, JSON_INVALID, JSON_DUPLICATE_KEY, JSON_NON_FINITE,
    JSON_HUGE_NUMBER, JSON_TOO_DEEP, JSON_TOO_BIG, NODE_SCHEMA, CONFIG_ROOT,
    SHARED_OBJECT_MISMATCH, GRAPH_INVALID, WEIGHTS_DTYPE,
)


def timed_out(exc: DeadlineExceeded, where: Location) -> Finding:
    """The KV002 finding for a stage that stopped on its deadline at ``where``."""
    return Finding.of(AUDIT_TIMEOUT, where, str(exc), value=exc.deadline.seconds)
