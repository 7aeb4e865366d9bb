#!/usr/bin/env python3
"""Rewrite the `deja <command> --help` blocks of docs/CLI.md from the built binary.

    python3 scripts/gen_cli_docs.py [--deja target/debug/deja]

clap is the source of truth; tests/docs.rs fails when docs/CLI.md and `--help` differ.
Help is rendered at COLUMNS=100, the width the test uses.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "CLI.md"
COMMANDS = ("show", "replay", "check", "debug", "fetch", "shadow", "shadow worker", "shadow start", "shadow status", "shadow stop")


def help_text(deja: str, command: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "DEJA_"))}
    env["COLUMNS"] = "100"
    return subprocess.run([deja, *command.split(), "--help"], capture_output=True, text=True, check=True, env=env).stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deja", default=str(ROOT / "target" / "debug" / "deja"))
    args = ap.parse_args()
    doc = DOC.read_text()
    for command in COMMANDS:
        pattern = re.compile(rf"(## deja {command}\n\n```\n)(.*?)(```\n)", re.S)
        if not pattern.search(doc):
            sys.exit(f"{DOC}: no ```-block under '## deja {command}'")
        text = help_text(args.deja, command)
        doc = pattern.sub(lambda m: m.group(1) + text + m.group(3), doc, count=1)
    DOC.write_text(doc)
    print(f"{DOC.relative_to(ROOT)}: {len(COMMANDS)} help blocks rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
