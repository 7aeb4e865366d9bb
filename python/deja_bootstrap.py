"""Imports deja's harness package from sources held in memory.

deja compiles ``python/deja_harness/*.py`` into its binary; at start-up it runs
this file and calls ``install`` with ``{module name: (file name, source)}``. The
finder then serves ``import deja_harness`` and its submodules like any package
(relative imports, ``__package__``, ``__path__``), without touching the disk:
nothing is written, no ``__pycache__``. The self-test calls ``install`` with the
same sources read from disk, so it runs the harness exactly as deja does.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys


class EmbeddedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, sources: dict) -> None:
        self.sources = dict(sources)

    def find_spec(self, name, path=None, target=None):
        if name not in self.sources:
            return None
        filename, _ = self.sources[name]
        is_package = filename.endswith("/__init__.py")
        spec = importlib.util.spec_from_loader(name, self, origin=filename, is_package=is_package)
        if is_package:
            spec.submodule_search_locations = []
        return spec

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module) -> None:
        filename, source = self.sources[module.__name__]
        # No __file__: the harness must not look for sibling files.
        module.__dict__.pop("__file__", None)
        exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)


def install(sources: dict) -> None:
    """Serve the given modules from memory (first on the path, replacing an earlier install)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, EmbeddedFinder)]
    sys.meta_path.insert(0, EmbeddedFinder(sources))


def sources_from_dir(package_dir: str) -> dict:
    """The sources ``install`` takes, read from ``python/deja_harness`` on disk under the
    same names deja's build embeds them with (for the self-test and the bench)."""
    import os

    out = {}
    for f in sorted(os.listdir(package_dir)):
        if f.endswith(".py"):
            stem = f[:-3]
            name = "deja_harness" if stem == "__init__" else f"deja_harness.{stem}"
            with open(os.path.join(package_dir, f), encoding="utf-8") as fh:
                out[name] = (f"deja_harness/{f}", fh.read())
    return out
