#!/usr/bin/env bash
# Set up (or refresh) the appliance on Debian 12 with Python 3.11, then optionally
# run the test suite or the appliance itself.
#
#   scripts/setup.sh                 set up only
#   scripts/setup.sh --test [-- ARGS]  set up, then run the whole test suite (pytest ARGS)
#   scripts/setup.sh --run  [-- ARGS]  set up, then start `appliance run ARGS` (embedded defaults)
#   scripts/setup.sh --force         redo the Python part even when nothing changed
#
# Idempotent and non-interactive (reads nothing from standard input). The second run is
# fast: a stamp in the virtual environment records a hash of pyproject.toml, this script
# and the Debian package list; when it matches, pip is skipped after a quick check.
#
# Environment knobs (all optional):
#   PYTHON                 the Python 3.11 interpreter to use (default: python3.11, then python3)
#   APPLIANCE_VENV         where the virtual environment lives (default: <repo>/.venv)
#   APPLIANCE_SKIP_APT=1   do not touch Debian packages (e.g. non-root without sudo)
#   LLAMA_CMAKE_ARGS       CMake flags for llama-cpp-python (default: -DGGML_NATIVE=OFF, portable)
#   TORCH_INDEX_URL        index for torch, e.g. https://download.pytorch.org/whl/cpu on a machine
#                          whose plain `pip install torch==X` would pull CUDA wheels
#   APPLIANCE_DIARIZE=1    also set up the diarization environment (always with --test)
set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/scripts/setup.sh"
cd "$ROOT"

START_S=$SECONDS
say() { printf '==> [%4ss] %s\n' "$((SECONDS - START_S))" "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,21p' "$SELF" | sed 's/^# \{0,1\}//'; }

# --- arguments ----------------------------------------------------------------------
ACTION=""
FORCE=0
EXTRA_ARGS=()
while (($#)); do
  case "$1" in
    --test | --run)
      [[ -z "$ACTION" ]] || die "use only one of --test and --run"
      ACTION="${1#--}"
      ;;
    --force) FORCE=1 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; EXTRA_ARGS=("$@"); break ;;
    *) usage >&2; printf 'setup.sh: error: unknown argument %q\n' "$1" >&2; exit 2 ;;
  esac
  shift
done

VENV="${APPLIANCE_VENV:-$ROOT/.venv}"
VPY="$VENV/bin/python"
STAMP="$VENV/.appliance-setup.stamp"
LLAMA_CMAKE_ARGS="${LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF}"
export DEBIAN_FRONTEND=noninteractive PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

# Debian 12 packages. Required: voice tools (espeak-ng for piper, sox, libsndfile),
# SIP test peer (sipp), Chromium for the web e2e tests, ffmpeg for audio conversion,
# the toolchain that compiles llama-cpp-python, strace for the zero-egress test, tmux for the console's
# terminal test, Kannel (bearerbox, smsbox and its fakesmsc test SMSC) for the SMS tests, Kamailio (the
# multi-box SIP dispatcher test runs its own instance; the packaged service is disabled). Optional: installed when Debian has them (systemd-analyze checks the unit in the tests).
APT_REQUIRED=(espeak-ng sox libsndfile1 sip-tester chromium fonts-dejavu-core ffmpeg cmake build-essential git ca-certificates strace tmux kannel kannel-extras kamailio)
APT_OPTIONAL=(baresip systemd)

# --- Python 3.11 --------------------------------------------------------------------
find_python() {
  local cand
  for cand in ${PYTHON:+"$PYTHON"} python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
      "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      command -v "$cand"
      return 0
    fi
  done
  return 1
}
PY="$(find_python)" || die "Python 3.11 is required but was not found (tried ${PYTHON:+$PYTHON, }python3.11, python3).
  On Debian 12: apt-get install python3 python3-venv   (or set PYTHON=/path/to/python3.11)"

# Debian splits venv/ensurepip out of the interpreter package.
if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  APT_REQUIRED+=(python3-venv)
fi

# --- Debian packages ------------------------------------------------------------------
is_installed() { [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]; }
has_candidate() {
  local c
  c="$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')"
  [[ -n "$c" && "$c" != "(none)" ]]
}

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@" || die "'sudo -n $*' failed: run as root, allow passwordless sudo, or set APPLIANCE_SKIP_APT=1"
  else
    die "need root to install Debian packages ($*); run as root or set APPLIANCE_SKIP_APT=1"
  fi
}

apt_packages() {
  local missing=() optional=() p
  for p in "${APT_REQUIRED[@]}"; do is_installed "$p" || missing+=("$p"); done
  for p in "${APT_OPTIONAL[@]}"; do is_installed "$p" || optional+=("$p"); done
  # Optional packages alone never trigger `apt-get update`: only try them when the
  # package lists already know them, or when we update anyway for a required one.
  local want_optional=()
  for p in "${optional[@]}"; do has_candidate "$p" && want_optional+=("$p"); done
  if ((${#missing[@]} == 0 && ${#want_optional[@]} == 0)); then
    say "Debian packages: all present"
    return 0
  fi
  if [[ "${APPLIANCE_SKIP_APT:-0}" == 1 ]]; then
    ((${#missing[@]} == 0)) || say "WARNING: missing Debian packages (APPLIANCE_SKIP_APT=1): ${missing[*]}"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install these packages yourself: ${missing[*]}"
  if ((${#missing[@]})); then
    say "apt-get update (missing: ${missing[*]})"
    as_root apt-get update -qq
    want_optional=()
    for p in "${optional[@]}"; do has_candidate "$p" && want_optional+=("$p"); done
    say "apt-get install ${missing[*]}"
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Kamailio's packaged service would bind every address's port 5060, the appliance's SIP port.
    if [[ " ${missing[*]} " == *" kamailio "* ]] && command -v systemctl >/dev/null 2>&1; then
      as_root systemctl disable --now kamailio >/dev/null 2>&1 || true
    fi
  fi
  for p in "${want_optional[@]}"; do
    say "apt-get install $p (optional)"
    as_root apt-get install -y -qq --no-install-recommends "$p" >/dev/null ||
      say "WARNING: optional package $p could not be installed; continuing"
  done
}

# --- stamp --------------------------------------------------------------------------
stamp_value() {
  {
    sha256sum pyproject.toml scripts/setup.sh
    printf '%s\n' "${APT_REQUIRED[*]}" "${APT_OPTIONAL[*]}" "$LLAMA_CMAKE_ARGS" "${TORCH_INDEX_URL:-}"
    "$VPY" -c 'import sys; print(sys.version)'
  } 2>/dev/null | sha256sum | cut -c1-64
}

# Fast check that the environment still holds what the stamp promises, without importing
# anything heavy (torch alone takes seconds): every distribution pinned in pyproject.toml
# (dependencies + the test and models extras) is installed at its pinned version, and
# `appliance` is the editable install of this checkout, and `pip check` is clean.
quick_verify() {
  [[ -x "$VPY" && -x "$VENV/bin/appliance" ]] || return 1
  "$VPY" - "$ROOT" <<'EOF' || return 1
import importlib.metadata as md, importlib.util as u, os, re, sys, tomllib
root = sys.argv[1]
with open(os.path.join(root, "pyproject.toml"), "rb") as f:
    project = tomllib.load(f)["project"]
reqs = list(project["dependencies"])
for extra in ("test", "models"):
    reqs += project.get("optional-dependencies", {}).get(extra, [])
problems = []
for req in reqs:
    m = re.fullmatch(r"\s*([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*(==\s*([^;\s]+))?.*", req)
    if not m:
        continue
    name, pin = m.group(1), m.group(4)
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        problems.append(f"{name} missing")
        continue
    if pin and have.split("+")[0] != pin:
        problems.append(f"{name} {have} (want {pin})")
spec = u.find_spec("appliance")
origin = (spec.origin if spec else None) or ""
if not os.path.realpath(origin).startswith(os.path.realpath(root) + os.sep):
    problems.append(f"appliance is not the editable install of {root} ({origin or 'not importable'})")
if problems:
    sys.exit("environment check: " + "; ".join(problems))
EOF
  local out  # pip check: every installed distribution's requirements hold (about 0.5 s)
  out="$("$VPY" -m pip check 2>&1)" || { printf 'pip check: %s\n' "$out" >&2; return 1; }
}

# --- pieces -------------------------------------------------------------------------
pin_of() {  # pin_of NAME -> version pinned in pyproject.toml's dependencies
  "$PY" - "$1" <<'EOF'
import re, sys, tomllib
name = sys.argv[1]
with open("pyproject.toml", "rb") as f:
    deps = tomllib.load(f)["project"]["dependencies"]
for dep in deps:
    m = re.fullmatch(r"\s*([A-Za-z0-9._-]+)(\[[^\]]*\])?\s*==\s*([^;\s]+)\s*(;.*)?", dep)
    if m and m.group(1).lower().replace("_", "-") == name:
        print(m.group(3))
        sys.exit(0)
sys.exit(f"pyproject.toml: no '{name}==VERSION' pin in [project].dependencies")
EOF
}

make_venv() {
  if [[ -x "$VPY" ]] && "$VPY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    return 0
  fi
  [[ -e "$VENV" ]] && { say "removing unusable virtual environment $VENV"; rm -rf "$VENV"; }
  say "creating virtual environment $VENV ($("$PY" -V 2>&1))"
  "$PY" -m venv "$VENV"
}

# llama-cpp-python compiles from source (minutes). pip's wheel cache ignores CMAKE_ARGS, so
# the wheel is cached here, keyed by version and a hash of the flags, outside the repo.
llama_wheel() {
  local ver="$1" key dir whl log tmp
  key="$(printf '%s' "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-12)"
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/appliance/wheels/llama-cpp-python-$ver-$key"
  whl="$(find "$dir" -maxdepth 1 -name "llama_cpp_python-$ver-*.whl" 2>/dev/null | head -n1)"
  if [[ -z "$whl" ]]; then
    mkdir -p "$dir"
    tmp="$(mktemp -d "$dir/.build.XXXXXX")"
    log="$dir/build.log"
    say "building llama-cpp-python $ver (CMAKE_ARGS=$LLAMA_CMAKE_ARGS; 6-10 minutes on 2 cores; log: $log)" >&2
    if ! CMAKE_ARGS="$LLAMA_CMAKE_ARGS" FORCE_CMAKE=1 "$VPY" -m pip wheel --no-cache-dir --no-deps \
      "llama-cpp-python==$ver" -w "$tmp" >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      rm -rf "$tmp"
      die "llama-cpp-python build failed (full log: $log)"
    fi
    mv "$tmp"/llama_cpp_python-*.whl "$dir"/
    rm -rf "$tmp"
    whl="$(find "$dir" -maxdepth 1 -name "llama_cpp_python-$ver-*.whl" | head -n1)"
  fi
  printf '%s\n' "$whl"
}

python_packages() {
  say "upgrading pip"
  "$VPY" -m pip install -q --upgrade pip setuptools wheel

  local torch_ver llama_ver whl
  torch_ver="$(pin_of torch)"
  llama_ver="$(pin_of llama-cpp-python)"

  say "installing torch==$torch_ver first (CPU build)"
  "$VPY" -m pip install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==$torch_ver"
  if "$VPY" -c 'import importlib.metadata as m, sys; sys.exit(not any((d.metadata["Name"] or "").startswith("nvidia-") for d in m.distributions()))'; then
    say "WARNING: CUDA packages (nvidia-*) were installed with torch; set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu"
  fi

  whl="$(llama_wheel "$llama_ver")"
  say "installing $(basename "$whl") (cached wheel)"
  "$VPY" -m pip install -q --no-deps "$whl"

  say "installing the appliance and its dependencies: pip install -e '.[test,models]'"
  "$VPY" -m pip install -q -e '.[test,models]'
}

# --- main ---------------------------------------------------------------------------
say "setting up $ROOT (Python: $PY)"
apt_packages
make_venv

if [[ $FORCE == 0 && -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_value)" ]] && quick_verify; then
  say "Python packages: up to date (stamp matches; --force to redo)"
else
  rm -f "$STAMP"
  python_packages
  quick_verify || die "installed environment failed the check above"
  stamp_value >"$STAMP"
  say "Python packages: installed"
fi

if [[ -f scripts/make_test_models.py ]]; then
  say "test models: scripts/make_test_models.py"
  "$VPY" scripts/make_test_models.py
else
  say "test models: scripts/make_test_models.py not present yet; skipped"
fi

# Speaker diarization (pyannote-audio) lives in its own environment (.venv-diarize): for the
# tests, or where APPLIANCE_DIARIZE=1 (docs/INSTALL.md, "Diarization"). A no-op when current.
if [[ "$ACTION" == "test" || "${APPLIANCE_DIARIZE:-0}" == "1" ]]; then
  say "diarization environment: scripts/setup_diarize.sh"
  PYTHON="$PY" bash scripts/setup_diarize.sh
fi

say "setup done"

case "$ACTION" in
  test)
    # No paths given: pytest runs pyproject.toml's testpaths (all of tests/). exec: pytest's
    # exit status is ours (5 = no tests collected, which fails too).
    say "running the test suite: pytest -p no:cacheprovider ${EXTRA_ARGS[*]}"
    exec "$VPY" -m pytest -p no:cacheprovider "${EXTRA_ARGS[@]}"
    ;;
  run)
    say "starting: appliance run ${EXTRA_ARGS[*]}"
    exec "$VENV/bin/appliance" run "${EXTRA_ARGS[@]}"
    ;;
esac
