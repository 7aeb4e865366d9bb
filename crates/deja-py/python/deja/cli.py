"""The ``deja`` console script: hands the command line to the Rust CLI and exits with its code.

deja's Rust side behaves exactly as the standalone binary does, which embeds CPython
without Python's signal handlers: Ctrl-C ends ``replay`` at once (``check`` cleans up its
report files and exits 130, the debugger reads it as a key), so SIGINT gets its default
action back here. The process then ends with ``os._exit``, as the binary does (it never
finalises Python): the SDK's core runtime is not torn down under a replay thread.
"""

import os
import signal
import sys


def main(argv=None):
    from deja import _deja

    args = ["deja", *(sys.argv[1:] if argv is None else argv)]
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = _deja.main(args)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: nothing more to say
            pass
    os._exit(code)
