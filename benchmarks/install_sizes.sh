#!/usr/bin/env bash
# The disk size of a fresh virtual environment with nkru installed, for the base install and each extra,
# at the locked versions (requirements/pyX.Y.txt, as constraints). Prints a Markdown table (README,
# "Installing"). Usage: bash benchmarks/install_sizes.sh [EXTRA ...]   (default: base export report all test)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
lock="requirements/py$version.txt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip wheel --quiet --no-deps -w "$work/wheel" . >/dev/null
wheel=$(ls "$work"/wheel/nkru-*.whl)
extras=("$@")
[ ${#extras[@]} -gt 0 ] || extras=(base export report all test)
echo "| install | venv size (MB) | packages |"
echo "| --- | ---: | ---: |"
for extra in "${extras[@]}"; do
  target="nkru @ file://$wheel"
  shown="pip install nkru"
  if [ "$extra" != base ]; then target="nkru[$extra] @ file://$wheel"; shown="pip install 'nkru[$extra]'"; fi
  "$python" -m venv "$work/venv-$extra"
  "$work/venv-$extra/bin/python" -m pip install --quiet -c "$lock" "$target" >/dev/null
  size=$(du -sm "$work/venv-$extra" | cut -f1)
  count=$("$work/venv-$extra/bin/python" -m pip list --format freeze 2>/dev/null | grep -vc '^\(pip\|setuptools\)==' || true)
  echo "| \`$shown\` | $size | $count |"
  rm -rf "$work/venv-$extra"
done
