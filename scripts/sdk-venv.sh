#!/usr/bin/env bash
# A cached virtualenv with one temporalio release, for the SDK version matrix
# (tests/sdk_matrix.rs) and for trying deja against the SDK a team runs:
#
#     scripts/sdk-venv.sh 1.19.0        # -> target/sdk-venvs/1.19.0
#     deja check histories/ --python-env target/sdk-venvs/1.19.0 ...
#
# Idempotent: a venv whose stamp names the same requirement is reused. Extra pins a
# release needs live in EXTRA below (temporalio's own ranges admit them, but the
# newest versions of a dependency can break an old release's import).
set -euo pipefail
version="${1:?usage: scripts/sdk-venv.sh TEMPORALIO_VERSION}"
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
dir="target/sdk-venvs/$version"
extra=""
case "$version" in
  # 1.14.x imports nexus-rpc APIs that later nexus-rpc releases renamed.
  1.14.*) extra="nexus-rpc==1.1.0" ;;
esac
want="temporalio==$version $extra"
mkdir -p target/sdk-venvs
# One builder per version at a time (tests run in parallel); the stamp is written last,
# so an interrupted build is redone.
exec 9>"target/sdk-venvs/.lock-$version"
flock 9
if [ -f "$dir/.deja-stamp" ] && [ "$(cat "$dir/.deja-stamp")" = "$want" ]; then
  exit 0
fi
rm -rf "$dir"
"$python" -m venv "$dir"
# shellcheck disable=SC2086
"$dir/bin/pip" install --quiet --disable-pip-version-check $want
echo "$want" > "$dir/.deja-stamp"
