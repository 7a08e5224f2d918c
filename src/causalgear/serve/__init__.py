"""`causalgear serve`: SQL generation with feature patching over HTTP."""
