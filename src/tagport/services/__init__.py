"""Use cases: the only layer that decides and commits. Interfaces are thin over it."""
