#!/usr/bin/env bash
# Separate venv for peer libraries measured by benchmarks/weak_supervision.py (Snorkel's
# LabelModel). Kept out of .venv because the peers pin older numpy/pandas/scipy.
# torch: only the CPU wheel torch==2.13.0 (never let pip resolve another torch).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-peers"
py="${PYTHON:-python3.11}"
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "torch==2.13.0"
# refuse to proceed if snorkel would replace torch
if "$venv/bin/pip" install --dry-run "snorkel==0.10.0" 2>/dev/null | grep -q "Would install.*torch-"; then
  echo "setup_peers: snorkel would install another torch; refusing" >&2
  exit 1
fi
"$venv/bin/pip" install -q "snorkel==0.10.0"
"$venv/bin/python" -c "import snorkel, torch; print('snorkel', snorkel.__version__, 'torch', torch.__version__)"
