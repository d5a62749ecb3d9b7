"""The safe loader's public functions, with Keras' call shapes.

Each one runs the whole audit first, on exactly the bytes or dict it will build from, and
raises ``PolicyViolation`` before Keras is even imported when anything is denied. Only an
allowed artifact goes on: the resolver makes a private copy with the approved substitutions
(``resolver``), Keras is imported and warmed up (``build.keras_api``), and the model is
built and its weights loaded from memory (``build``) while the runtime guard is active
(``guard``). A refusal by the guard is a ``PolicyViolation`` too, its report extended with
the refused event (KV600).
"""

from __future__ import annotations

import copy
import json
import os
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

from kerasvet.artifact.keras_zip import ASSETS_PREFIX
from kerasvet.artifact.model import ArtifactFormat
from kerasvet.artifact.read import JSON_MEMBER
from kerasvet.artifact.sniff import MemoryFile
from kerasvet.audit import resolve_policy
from kerasvet.findings import Finding, Location
from kerasvet.lambdas.model import LambdaError
from kerasvet.lambdas.rebuild import rebuild_lambda
from kerasvet.loader.build import (
    KerasApi,
    build_config,
    build_keras_zip,
    build_legacy_hdf5,
    keras_api,
    keras_scopes,
)
from kerasvet.loader.guard import GuardState, guarded
from kerasvet.loader.imports import allowed_imports
from kerasvet.loader.model import (
    GuardEvent,
    LoadFailed,
    TrustEverything,
    UnsafeLoadRefused,
    UnsupportedArtifact,
)
from kerasvet.loader.resolver import Plan, check_custom_objects, plan_build
from kerasvet.loader.rules import ASSETS_NOT_LOADED, GUARD_REFUSED, LAMBDA_NOT_REBUILT
from kerasvet.loader.vet import Vetted, refuse, vet_config, vet_path
from kerasvet.policy import Policy

__all__ = ["PolicyArgument", "deserialize_keras_object", "load_and_summarize", "load_model",
           "model_from_json"]

PolicyArgument = Policy | str | os.PathLike[str] | TrustEverything | None
"""A policy object, a shipped policy name, a policy file, ``TRUST_EVERYTHING`` or ``None``
(the shipped default)."""

Construct = Callable[[KerasApi, Plan], Any]


def _rebuild_lambdas(plan: Plan) -> None:
    """Compile every allowed lambda from its verified AST (the guard allows exactly these)."""
    for pending in plan.lambdas:
        function = rebuild_lambda(pending.analysis, plan.bindings)
        plan.scope[pending.key] = function
        if pending.in_place:
            if isinstance(pending.container, dict):
                pending.container[str(pending.slot)] = function
            else:
                pending.container[int(pending.slot)] = function


def _guard_findings(refusals: list[GuardEvent]) -> tuple[Finding, ...]:
    """One KV600 finding per distinct refused operation, in the order first refused."""
    counts: dict[GuardEvent, int] = {}
    for event in refusals:
        counts[event] = counts.get(event, 0) + 1
    return tuple(
        Finding.of(GUARD_REFUSED, Location(member="<runtime>", detail=event.event),
                   f"the runtime guard refused {event.detail}"
                   + (f" ({count} times)" if count > 1 else ""), value=event.detail)
        for event, count in counts.items())


def _build(vetted: Vetted, policy: Policy, objects: Mapping[str, object], legacy: bool,
           construct: Construct, record: GuardState | None = None) -> Any:
    """Plan, then build under the guard; every way this can stop is a typed error.

    ``record`` is for ``kerasvet.loader.measure`` only: a non-enforcing state whose import
    set replaces the load's and whose refusals the caller reads instead of a refusal.
    """
    api = keras_api()
    decode: Callable[[str], object] = api.json_utils.decode if legacy else json.loads
    plan = plan_build(vetted, policy, objects, decode, api.registry)
    if plan.findings:
        raise refuse(vetted, plan.findings)
    state = GuardState(
        allowed_imports=allowed_imports(policy) if record is None else record.allowed_imports,
        lambda_dumps=plan.lambda_dumps,
        enforce=record is None,
        refusals=[] if record is None else record.refusals,
    )
    built: Any = None
    failure: Exception | None = None
    with guarded(state):
        try:
            _rebuild_lambdas(plan)
            with keras_scopes(api, plan.scope):
                built = construct(api, plan)
        except Exception as exc:  # judged below, outside the guard
            failure = exc
    if state.refusals and state.enforce:
        raise refuse(vetted, _guard_findings(state.refusals)) from failure
    if isinstance(failure, LambdaError):
        raise refuse(vetted, (Finding.of(
            LAMBDA_NOT_REBUILT, Location(member="<runtime>"),
            f"an allowed lambda could not be rebuilt: {failure}"),)) from failure
    if failure is not None:
        said = str(failure)  # Keras often quotes the whole config; the cause keeps it all
        raise LoadFailed(
            f"Keras could not build the config the policy allowed ({type(failure).__name__}: "
            f"{said if len(said) <= 400 else said[:397] + '...'})") from failure
    return built


def _asset_members(data: bytes) -> list[str]:
    with zipfile.ZipFile(MemoryFile(memoryview(data))) as archive:
        return [name for name in archive.namelist()
                if name.startswith(ASSETS_PREFIX) and name != ASSETS_PREFIX]


def load_model(path: str | os.PathLike[str], policy: PolicyArgument = None,
               custom_objects: Mapping[str, object] | None = None, compile: bool = True) -> Any:
    """Load a ``.keras`` zip or a legacy ``.h5`` file (Keras 3 or tf.keras 2) safely.

    The file is read once; its audit must allow it (else ``PolicyViolation`` with the full
    report, before Keras is imported); the model is then built from the audited config and
    its weights are loaded from the same bytes, under the runtime guard. ``custom_objects``
    must be classes or functions the policy allows (``CustomObjectNotAllowed``). An
    unzipped ``.keras`` folder or a bare config is ``UnsupportedArtifact`` (for the latter,
    use ``model_from_json``). ``policy=kerasvet.TRUST_EVERYTHING`` is plain
    ``keras.saving.load_model(..., safe_mode=False)``.
    """
    if isinstance(policy, TrustEverything):
        return keras_api().keras.saving.load_model(
            path, custom_objects=custom_objects, compile=compile, safe_mode=False)
    resolved = resolve_policy(policy)
    objects = check_custom_objects(custom_objects, resolved)
    return _load_path(path, resolved, objects, compile)


def _load_path(path: str | os.PathLike[str], policy: Policy, objects: Mapping[str, object],
               compile: bool, record: GuardState | None = None) -> Any:
    """``load_model`` after the policy and the custom objects are settled."""
    vetted = vet_path(path, policy)
    artifact_format = vetted.artifact.format
    data = vetted.data
    if artifact_format is ArtifactFormat.KERAS_ZIP and data is not None:
        assets = _asset_members(data)
        if assets:
            raise refuse(vetted, (Finding.of(
                ASSETS_NOT_LOADED, Location(member="<artifact>", detail=assets[0]),
                f"the zip carries {len(assets)} asset file(s) such as {assets[0]!r}",
                value=assets[0]),))
        return _build(vetted, policy, objects, False,
                      lambda api, plan: build_keras_zip(api, plan, data, compile), record)
    if artifact_format is ArtifactFormat.HDF5 and data is not None:
        return _build(vetted, policy, objects, True,
                      lambda api, plan: build_legacy_hdf5(api, plan, data, compile), record)
    if artifact_format is ArtifactFormat.KERAS_DIR:
        raise UnsupportedArtifact(
            f"{vetted.report.artifacts[0].path!r} is an unzipped .keras folder; the loader "
            "reads weights only from the bytes it audited, which the folder reader does not "
            "keep. Zip the folder (config.json, metadata.json, model.weights.h5) and load the "
            "zip.")
    raise UnsupportedArtifact(
        f"{vetted.report.artifacts[0].path!r} is a {artifact_format.value} artifact, not a "
        ".keras zip or an .h5 model; use kerasvet.model_from_json for a bare config")


def _choose_policy(safe_mode: object, policy: PolicyArgument) -> Policy | TrustEverything:
    """Keras' ``safe_mode`` argument read as a policy: ``True`` the given (or default)
    policy, a ``Policy`` itself, ``False`` only together with ``TRUST_EVERYTHING``."""
    if isinstance(safe_mode, Policy):
        if policy is not None and policy is not safe_mode:
            raise ValueError("pass the policy either as safe_mode or as policy, not both")
        return safe_mode
    if safe_mode is True:
        return policy if isinstance(policy, TrustEverything) else resolve_policy(policy)
    if safe_mode is False:
        if isinstance(policy, TrustEverything):
            return policy
        raise UnsafeLoadRefused(
            "safe_mode=False turns every check off; kerasvet refuses it unless you also pass "
            "policy=kerasvet.TRUST_EVERYTHING, which loads exactly as unsafe Keras would")
    raise TypeError(f"safe_mode must be True, False or a Policy, not {type(safe_mode).__name__}")


def deserialize_keras_object(config: Mapping[str, object], custom_objects:
                             Mapping[str, object] | None = None, safe_mode: bool | Policy = True,
                             policy: PolicyArgument = None) -> Any:
    """``keras.saving.deserialize_keras_object`` after the audit, on a private copy.

    ``config`` is audited as a dict (serialised and strictly re-parsed, so the caller's dict
    is never handed to Keras and never changes). ``safe_mode`` may be a ``Policy``; ``False``
    is refused unless ``policy=kerasvet.TRUST_EVERYTHING``.
    """
    if not isinstance(config, Mapping):
        # Never hand anything else to the reader: it would take a string for a path.
        raise TypeError(f"kerasvet.deserialize_keras_object audits a config dict, not a "
                        f"{type(config).__name__}")
    chosen = _choose_policy(safe_mode, policy)
    if isinstance(chosen, TrustEverything):
        return keras_api().serialization_lib.deserialize_keras_object(
            copy.deepcopy(config), custom_objects=custom_objects, safe_mode=safe_mode is True)
    objects = check_custom_objects(custom_objects, chosen)
    return _load_dict(config, chosen, objects)


def _load_dict(config: Mapping[str, object], policy: Policy, objects: Mapping[str, object],
               record: GuardState | None = None) -> Any:
    """``deserialize_keras_object`` after the policy and the custom objects are settled."""
    vetted = vet_config(config, "<dict>", policy)
    return _build(vetted, policy, objects, False,
                  lambda api, plan: build_config(api, plan, JSON_MEMBER, legacy=False), record)


def model_from_json(text: str | bytes, custom_objects: Mapping[str, object] | None = None,
                    policy: PolicyArgument = None) -> Any:
    """``keras.models.model_from_json`` after the audit of exactly ``text``.

    The text is audited as bytes, never as a path. A Keras 3 config (``module`` keys) goes
    through Keras' deserializer; ``to_json()`` output of tf.keras 2 (no ``module`` at the
    root) through Keras 3's legacy builder, as for legacy ``.h5`` files.
    """
    if isinstance(policy, TrustEverything):
        api = keras_api()
        with api.serialization_lib.SafeModeScope(False):
            return api.keras.models.model_from_json(
                text if isinstance(text, str) else text.decode("utf-8"),
                custom_objects=custom_objects)
    if not isinstance(text, (str, bytes)):
        raise TypeError(f"kerasvet.model_from_json takes JSON text, not a {type(text).__name__}")
    resolved = resolve_policy(policy)
    objects = check_custom_objects(custom_objects, resolved)
    return _load_json(text, resolved, objects)


def _load_json(text: str | bytes, policy: Policy, objects: Mapping[str, object],
               record: GuardState | None = None) -> Any:
    """``model_from_json`` after the policy and the custom objects are settled."""
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    vetted = vet_config(data, "<json>", policy)
    root = vetted.artifact.documents[0].value
    legacy = isinstance(root, dict) and "module" not in root
    return _build(vetted, policy, objects, legacy,
                  lambda api, plan: build_config(api, plan, JSON_MEMBER, legacy), record)


def load_and_summarize(path: str | os.PathLike[str], policy: PolicyArgument = None) -> str:
    """Load safely and return the model's ``summary()`` text (for ``kerasvet load``)."""
    model = load_model(path, policy=policy)
    lines: list[str] = []
    summary = getattr(model, "summary", None)
    if summary is None:
        return repr(model)
    summary(print_fn=lambda line, line_break=True: lines.append(str(line)))
    return "\n".join(lines)
