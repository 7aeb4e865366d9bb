"""pytest plugin (entry point ``pytest11``, loaded automatically): two fixtures.

    def test_cart_still_replays(deja_replay):
        deja_replay("histories/shopping_cart.json", workflows=["app/workflows.py"])

``deja_replay(history, workflows=None, **options)`` replays one history (the options of
:func:`deja.replay`) and fails the test with deja's own text report — the verdict, the
aligned diff of commands against events, the line of code — when deja exits non-zero.
``deja_check(paths, workflows=None, **options)`` does the same for a whole ``deja check``
run (:func:`deja.check`), failing with its summary and every failure's diff. Both return
the typed result for further asserts. ``[tool.deja]`` in pyproject.toml fills in what is
left out, as for the CLI (the nearest one from pytest's working directory).
"""

import pytest

from deja import api


@pytest.fixture
def deja_replay():
    def run(history, workflows=None, **options):
        result = api.replay(history, workflows, **options)
        if not result.ok:
            pytest.fail(result.text().rstrip(), pytrace=False)
        return result

    return run


@pytest.fixture
def deja_check():
    def run(paths=(), workflows=None, **options):
        result = api.check(paths, workflows, **options)
        if not result.ok:
            pytest.fail(result.text.rstrip(), pytrace=False)
        return result

    return run
