"""The shipped policy JSON Schema: generated from the loader, and agreeing with it."""

from __future__ import annotations

import json
import sys

import jsonschema
import pytest

from kerasvet.cli import main
from kerasvet.errors import PolicyError
from kerasvet.policy import load_policy, shipped_policy_names
from kerasvet.policy.load import SHIPPED_DIR
from kerasvet.policy.schema import SCHEMA_PATH, policy_schema, render_policy_schema

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_shipped_schema_is_what_the_generator_writes():
    # Regenerate with: PYTHONPATH=src python -m kerasvet.policy.schema
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_policy_schema()


def test_every_fixed_key_object_is_closed():
    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                assert node.get("additionalProperties") is False, node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(policy_schema())


@pytest.mark.parametrize("name", shipped_policy_names())
def test_shipped_policies_validate(name):
    data = tomllib.loads((SHIPPED_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    errors = [e.message for e in validator().iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize(
    "text",
    [
        'name = "x"\nbogus = 1\n',
        'name = "x"\n[limits]\nmax_nodez = 1\n',
        'name = "x"\n[limits]\nmax_nodes = "many"\n',
        'name = "x"\n[limits]\nmax_nodes = 0\n',
        'name = "x"\n[lambdas]\nmode = "sometimes"\n',
        'name = "x"\n[[deny]]\nmodule = "a"\nmodule_prefix = "a"\nreason = "r"\n',
        'name = "x"\n[[deny]]\nmodule = "a"\n',
        'name = "x"\n[[deny]]\nmodule = "a"\nreason = "r"\nwhy = 1\n',
        'name = "x"\n[arguments."keras.layers.Dense".units]\ntypes = ["integer"]\n',
        'name = "x"\n[arguments."keras.layers.Dense".units]\nminimum = 1\n',
        'name = "x"\n[classes]\n"keras.layers" = "Dense"\n',
        'name = "x"\n[classes]\n"keras..layers" = ["Dense"]\n',
        'name = "x"\n[names]\nshapes = ["x"]\n',
        'description = "no name"\n',
        'name = "x"\n[remove]\nclass = ["x"]\n',
        'name = "x"\n[remove.lambdas]\nmode = ["deny"]\n',
        'name = "x"\n[remove]\ncustom = ["NotRegistered"]\n',
        'name = "x"\n[arguments."*".name]\nmax_items = -1\n',
        'name = "x"\n[arguments."*".kernel_initializer]\nnodes = ["Zeros"]\n',
        'name = "x"\n[arguments."*".name]\npattern = 3\n',
    ],
)
def test_malformed_policies_fail_schema_and_loader(tmp_path, text):
    assert list(validator().iter_errors(tomllib.loads(text))) != []
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PolicyError):
        load_policy(path)


def test_cli_prints_the_schema(capsys):
    assert main(["policy", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == policy_schema()


def test_schema_file_ships_next_to_the_package():
    assert SCHEMA_PATH.parent.name == "schemas"
    assert SCHEMA_PATH.parent.parent.name == "kerasvet"
