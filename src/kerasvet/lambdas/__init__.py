"""Static reading of serialized Keras lambdas, without executing or natively loading them.

Submodules, one per step: ``model`` (records and errors), ``marshal_reader`` (pure-Python
unmarshaller and the strict base64 decoder), ``opcodes`` (per-version opcode tables),
``instructions`` (strict decoding and version selection) and ``lift`` (bytecode back to an
``ast.Lambda``). This package init imports nothing, so importing one step never drags in the
others.
"""
