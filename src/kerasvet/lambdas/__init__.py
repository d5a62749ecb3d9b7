"""Static reading of serialized Keras lambdas, without executing or natively loading them.

Submodules, one per step: ``model`` (records, the analysis result and errors),
``marshal_reader`` (pure-Python unmarshaller and the strict base64 decoder), ``opcodes``
(per-version opcode tables), ``instructions`` (strict decoding and version selection),
``lift`` (bytecode back to an ``ast.Lambda``), ``check`` (the policy allowlist on that AST),
``resolve`` (astroid: do allowed aliases mean what they say), ``bandit_check`` (bandit on the
reconstructed source), ``analyze`` (the whole pipeline: :func:`analyze.analyze_lambda`),
``rebuild`` (compile an allowed, verified AST into a function for the loader) and
``defaults`` (the reviewed default allowlist, as data). This package init imports nothing,
so importing one step never drags in the others (astroid and bandit load only when used).
"""
