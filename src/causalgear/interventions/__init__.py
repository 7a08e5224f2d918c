"""Residual-stream edits, SAE patching, causal evaluation and its statistics."""
