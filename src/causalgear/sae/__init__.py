"""Sparse autoencoders: architectures behind one interface, Lightning training, checkpoint io."""

from causalgear.sae.base import SparseAutoencoder, build_sae

__all__ = ["SparseAutoencoder", "build_sae"]
