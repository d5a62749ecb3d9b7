"""Tests for kerasvet.lambdas: the marshal reader, opcode tables and instruction decoding."""
