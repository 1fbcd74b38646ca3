"""Tooling around the library, not part of its core: ``bench`` (``hgn bench``: speed, memory and the fast layers
against their plain transcriptions) and ``profiling`` (what it reads from the PyTorch profiler)."""
