"""Model loading (hub, local, embedded), batched SQL generation, and the embedded model builder."""
