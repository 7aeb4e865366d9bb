"""deja: replay Temporal workflow histories against Python workflow code.

The ``deja`` command (``deja.cli``) is the same CLI as the standalone binary, running in
this interpreter. From Python::

    import deja

    result = deja.replay("histories/cart.json", workflows=["app/workflows.py"])
    assert result.ok, result.text()

    run = deja.check(["histories/"], workflows=["app.workflows"])
    for r in run.failures:
        print(r.path, r.verdict, r.message)

pytest: the ``deja_replay`` and ``deja_check`` fixtures (``deja.pytest_plugin``, loaded
automatically) fail a test with deja's own diff. See docs/PYTHON-API.md.
"""

# The API is imported on first use (PEP 562): the `deja` command and `python -m deja`
# workers import this package too, and need none of it (~50 ms of start-up saved per process).
_API = ("CheckResult", "DejaError", "Divergence", "Frame", "HistoryResult", "ReplayResult", "check", "replay")


def __getattr__(name):
    if name in _API:
        from deja import api

        return getattr(api, name)
    raise AttributeError(f"module 'deja' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])


__version__ = "0.1.0"

__all__ = [
    "CheckResult",
    "DejaError",
    "Divergence",
    "Frame",
    "HistoryResult",
    "ReplayResult",
    "check",
    "replay",
]
