"""``python -m deja``: the ``deja`` command (``check`` starts its workers this way)."""

from deja.cli import main

if __name__ == "__main__":
    main()
