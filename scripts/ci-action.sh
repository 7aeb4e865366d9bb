#!/usr/bin/env bash
# The steps of the deja GitHub Action (action.yml), as one script so they run — and are
# tested (tests/wheel.rs) — the same way outside GitHub.
#
# Inputs (environment; action.yml maps its `with:` inputs onto these):
#   DEJA_PYTHON     the interpreter of the project's venv, the one with temporalio and the
#                   workflow code's dependencies installed (default: python)
#   DEJA_PACKAGE    what pip installs into it: `deja-replay`, `deja-replay==0.1.0`, a wheel
#                   file or a git URL; `none` to use a deja already installed there
#   DEJA_PATHS      history files, directories or globs (space/newline separated; globs
#                   are expanded by deja, not the shell); empty: [tool.deja] histories
#   DEJA_WORKFLOWS  workflow modules/files (space/newline separated); empty: [tool.deja]
#   DEJA_JUNIT      where the JUnit report goes (default: deja-junit.xml)
#   DEJA_ARGS       more `deja check` flags, e.g. `--jobs 4 --timeout 120`
# GitHub annotations come from deja itself: with GITHUB_ACTIONS=true, `deja check` prints
# `::error file=…,line=…::` for every failure group (escaped). The exit code is deja's
# (0 clean, 1 non-determinism or replay failure, 2 usage/environment error); it is also
# written to $GITHUB_OUTPUT as `exit-code`, and the closing summary line to
# $GITHUB_STEP_SUMMARY.
set -euo pipefail
set -f # globs in DEJA_PATHS are deja's to expand

py="${DEJA_PYTHON:-python}"
package="${DEJA_PACKAGE:-deja-replay}"
junit="${DEJA_JUNIT:-deja-junit.xml}"

if [ "$package" != "none" ]; then
  "$py" -m pip install --quiet --disable-pip-version-check "$package"
fi

args=(check)
read -r -d '' -a paths <<<"${DEJA_PATHS:-}" || true
args+=("${paths[@]}")
read -r -d '' -a workflows <<<"${DEJA_WORKFLOWS:-}" || true
for w in "${workflows[@]}"; do
  args+=(--workflows "$w")
done
args+=(--junit "$junit")
read -r -d '' -a extra <<<"${DEJA_ARGS:-}" || true
args+=("${extra[@]}")

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
"$py" -m deja "${args[@]}" | tee "$log"
code=${PIPESTATUS[0]}
set -e

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "exit-code=$code" >>"$GITHUB_OUTPUT"
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  {
    echo "### deja check"
    grep '^deja check: .* in ' "$log" | tail -n 1 || echo "deja check exited $code (see the log)"
  } >>"$GITHUB_STEP_SUMMARY"
fi
exit "$code"
