"""Activation capture at a decoder block, and the cached, sharded, checksummed activation store."""
