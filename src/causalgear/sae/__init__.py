"""Sparse autoencoders: architectures behind one registry (`causalgear.sae.registry`), Lightning
training, checkpoint io. Importing the package costs nothing: the config preflight reads the
registry's names without loading torch."""
