"""Data sets (TinySQL, Spider), prompts, and safe execution scoring of SQL."""
