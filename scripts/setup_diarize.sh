#!/usr/bin/env bash
# Create (or refresh) the isolated diarization environment: pyannote-audio in its own virtual
# environment, so its torchaudio/torchcodec builds never meet the main environment's torch.
#
#   scripts/setup_diarize.sh [--force]
#
# Where: $APPLIANCE_DIARIZE_VENV (default <repo>/.venv-diarize). What: requirements/diarize.txt,
# every distribution pinned, installed with --no-deps (so nothing unpinned, no torchcodec, no
# CUDA packages). torch is the CPU wheel (TORCH_INDEX_URL as in setup.sh where a plain
# `pip install torch==X` pulls CUDA). PyPI's torchaudio ships a CUDA-linked extension that
# cannot load next to CPU torch; we delete it, and torchaudio then runs without it (its
# documented "no extension" mode): pyannote only uses its pure-PyTorch parts.
# A stamp (hash of the requirements and this script) makes the second run a no-op.
set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DVENV="${APPLIANCE_DIARIZE_VENV:-$ROOT/.venv-diarize}"
REQ="$ROOT/requirements/diarize.txt"
STAMP="$DVENV/.diarize-setup.stamp"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
START_S=$SECONDS
say() { printf '==> [diarize %4ss] %s\n' "$((SECONDS - START_S))" "$*"; }

stamp_value() { cat "$REQ" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16; }

if [[ "${1:-}" != "--force" && -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_value)" ]] \
  && "$DVENV/bin/python" -c 'import importlib.metadata as m; m.version("pyannote.audio")' >/dev/null 2>&1; then
  say "diarization environment $DVENV: up to date"
  exit 0
fi

rm -rf "$DVENV"
say "creating $DVENV ($("$PY" -V 2>&1))"
"$PY" -m venv "$DVENV"
export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
say "installing torch (CPU) first"
"$DVENV/bin/python" -m pip install -q --no-deps ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
  "$(grep -E '^torch==' "$REQ")"
say "installing requirements/diarize.txt (--no-deps, all pinned)"
"$DVENV/bin/python" -m pip install -q --no-deps -r "$REQ"
rm -f "$DVENV"/lib/python3*/site-packages/torchaudio/lib/*.so
"$DVENV/bin/python" - <<'EOF'
import importlib.metadata as m, os, sys
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
bad = [d.metadata["Name"] for d in m.distributions() if (d.metadata["Name"] or "").startswith(("nvidia-", "torchcodec"))]
if bad:
    sys.exit(f"unexpected packages in the diarization environment: {bad}")
import warnings
warnings.simplefilter("ignore")
import pyannote.audio.pipelines  # noqa: F401  (imports torchaudio: fails loudly if it cannot load)
EOF
stamp_value >"$STAMP"
say "diarization environment ready"
