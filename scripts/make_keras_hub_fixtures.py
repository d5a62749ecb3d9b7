#!/usr/bin/env python3
"""Write the small KerasHub models that ``policies/keras-hub.toml``'s ``[[tests]]`` audit.

KerasHub is not part of kerasvet's test environment (on Linux ``pip install keras-hub`` pulls
in tensorflow-text and TensorFlow). It imports fine without them, so run this in a scratch
virtualenv that has Keras 3 + JAX and KerasHub installed without its dependencies::

    python -m venv /tmp/khub && /tmp/khub/bin/pip install keras==3.15.1 'jax[cpu]' \\
        && /tmp/khub/bin/pip install --no-deps keras-hub==0.32.0 \\
        && /tmp/khub/bin/pip install regex sentencepiece tokenizers kagglehub
    KERAS_BACKEND=jax /tmp/khub/bin/python scripts/make_keras_hub_fixtures.py

Nothing is downloaded: no presets, random weights, tiny sizes, vocabularies given as lists.
Writes into ``tests/fixtures/keras_hub/``:

* ``bert_text_classifier.keras``: BertTextClassifier (BertBackbone, 1 layer, hidden 8) with
  its BertTextClassifierPreprocessor and a WordPiece BertTokenizer (vocabulary in assets/);
* ``gpt2_causal_lm.keras``: GPT2CausalLM (GPT2Backbone, 1 layer) with GPT2CausalLMPreprocessor
  and a byte-pair GPT2Tokenizer (vocabulary and merges in assets/);
* ``bert_backbone.keras``: a bare BertBackbone, no assets (the safe loader's KV602 refuses
  assets, so this is the one a user could also load with kerasvet.load_model).

It first checks that ``scripts/generate_keras_hub_policy.py``, which reads the source with
``ast``, finds exactly the live registry's ``keras_hub>`` classes (metrics aside).
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"

import keras
import keras_hub

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "tests" / "fixtures" / "keras_hub"
sys.path.insert(0, str(HERE))

import generate_keras_hub_policy  # noqa: E402


def check_registry() -> None:
    """The ast-derived entries are the live registry's classes, metrics left out."""
    version, entries, left_out = generate_keras_hub_policy.collect(None)
    assert version == keras_hub.__version__, (version, keras_hub.__version__)
    mine = {e.registered_name: e.object for e in entries}
    live = {name: f"{obj.__module__}.{obj.__qualname__}"
            for name, obj in keras.saving.get_custom_objects().items()
            if name.startswith("keras_hub>") and inspect.isclass(obj)
            and name.split(">")[1] == obj.__name__}
    metrics = {f"keras_hub>{line.split(' ')[0].rsplit('.', 1)[1]}" for line in left_out}
    assert set(live) - metrics == set(mine), sorted(set(live) ^ set(mine))
    assert all(live[name] == obj for name, obj in mine.items())
    print(f"registry check: {len(mine)} entries match the live registry of keras-hub {version}")


def bert() -> tuple[keras.Model, keras.Model]:
    keras.utils.set_random_seed(1234)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox"]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocab)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=8)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8)
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2,
                                                     preprocessor=preprocessor)
    return classifier, backbone


def gpt2() -> keras.Model:
    keras.utils.set_random_seed(1234)
    vocab = {"<|endoftext|>": 0, "a": 1, "b": 2, "ab": 3, "Ġ": 4, "Ġa": 5}
    merges = ["a b", "Ġ a"]
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocab, merges=merges)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=8)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocab), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8)
    return keras_hub.models.GPT2CausalLM(backbone, preprocessor=preprocessor)


def main() -> int:
    check_registry()
    OUT.mkdir(parents=True, exist_ok=True)
    classifier, backbone = bert()
    models = {"bert_text_classifier": classifier, "bert_backbone": backbone,
              "gpt2_causal_lm": gpt2()}
    for name, model in models.items():
        path = OUT / f"{name}.keras"
        model.save(path)
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
