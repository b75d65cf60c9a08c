# Shared set-up steps for scripts/run, scripts/test and .ci/run. Every step is idempotent:
# on a machine that already has everything, it costs a few seconds.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
mkdir -p "$ROOT/var/log"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Debian packages the platform needs (installed only when missing, only as root), and what only
# its tests need on top (Chromium for the browser tests: 158 packages, 195 MB that scripts/run
# skips).
SYSTEM_PACKAGES=(python3-venv python3-dev build-essential git curl ca-certificates
  docker.io redis-server debootstrap iproute2 util-linux e2fsprogs socat)
TEST_PACKAGES=(chromium fonts-dejavu-core)

ensure_system_packages() {  # $1: "runtime" (scripts/run) or "all" (the default: tests, CI)
  local missing=() wanted=("${SYSTEM_PACKAGES[@]}")
  [ "${1:-all}" = runtime ] || wanted+=("${TEST_PACKAGES[@]}")
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  # Node.js may come from Debian (nodejs + npm) or from a vendor package that bundles npm.
  # scripts/run does without: Debian's npm is 350 packages, for one file (fetch_mermaid).
  if [ "${1:-all}" != runtime ]; then
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing system packages: ${missing[*]} (run as root, or install them with apt-get)" >&2
    return 1
  fi
  say "Installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_python() {  # $1: requirements file
  local req="${1:-requirements.txt}"
  [ -x "$PY" ] || { say "Creating virtualenv at .venv"; python3 -m venv "$VENV"; }
  local stamp="$VENV/.installed-$(basename "$req")-$(cat "$ROOT/requirements.txt" "$ROOT/$req" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "Installing Python packages from $req"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -r "$ROOT/$req"
    touch "$stamp"
  fi
}

# Mermaid's browser bundle (dist/mermaid.min.js, self-contained) is the only file Drydock serves
# from node_modules: without npm, it comes straight from the registry, at the version and
# checksum package-lock.json pins.
fetch_mermaid() {
  local stamp="$ROOT/node_modules/mermaid/.fetched-$(sha256sum "$ROOT/package-lock.json" | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  say "Fetching Mermaid from the npm registry (version and checksum from package-lock.json)"
  python3 - "$ROOT" <<'PY'
import base64, hashlib, io, json, os, sys, tarfile, urllib.request
from pathlib import Path

root = Path(sys.argv[1])
meta = json.loads((root / "package-lock.json").read_text())["packages"]["node_modules/mermaid"]
registry = (os.environ.get("npm_config_registry") or "https://registry.npmjs.org").rstrip("/")
url = meta.get("resolved") or f"{registry}/mermaid/-/mermaid-{meta['version']}.tgz"
algorithm, _, expected = meta["integrity"].partition("-")
with urllib.request.urlopen(url, timeout=120) as response:
    data = response.read()
if base64.b64encode(hashlib.new(algorithm, data).digest()).decode() != expected:
    sys.exit(f"mermaid {meta['version']}: checksum differs from package-lock.json ({url})")
dest = root / "node_modules" / "mermaid"
with tarfile.open(fileobj=io.BytesIO(data)) as tf:
    for name in ("package/package.json", "package/dist/mermaid.min.js"):
        target = dest / name.removeprefix("package/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(tf.extractfile(name).read())
PY
  touch "$stamp"
}

ensure_assets() {  # $1: "runtime" (scripts/run): without npm, only Mermaid's bundle
  if [ "${1:-all}" = runtime ] && ! command -v npm >/dev/null; then
    fetch_mermaid
    mkdir -p "$ROOT/static/vendor/mermaid"
    cp -u "$ROOT/node_modules/mermaid/dist/mermaid.min.js" "$ROOT/static/vendor/mermaid/"
    return 0
  fi
  local stamp="$ROOT/node_modules/.installed-$(sha256sum "$ROOT/package-lock.json" | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "Installing front-end assets from the npm registry (package-lock.json)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
  mkdir -p "$ROOT/static/vendor/mermaid"
  cp -u "$ROOT/node_modules/mermaid/dist/mermaid.min.js" "$ROOT/static/vendor/mermaid/"
}

redis_up() { "$PY" -c "import redis,sys; redis.Redis.from_url('${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}', socket_connect_timeout=1).ping()" 2>/dev/null; }

start_redis() {
  redis_up && return 0
  say "Starting Redis on 127.0.0.1:6379"
  mkdir -p "$ROOT/var/redis" "$ROOT/var/log"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$ROOT/var/redis" \
    --logfile "$ROOT/var/log/redis.log" --appendonly yes --save ""
  for _ in $(seq 1 50); do redis_up && return 0; sleep 0.2; done
  echo "Redis did not start; see var/log/redis.log" >&2
  return 1
}

# The machine's engine builds the stand-in base images (and Drydock's own image); learners'
# submissions run only on the dedicated grading engine (scripts/grading-engine), which gets a
# copy of the stand-ins: started first, it receives each group of them as soon as the group
# is built (docker/standins/build --grading-engine), while the slower groups still build.
standins_steps() {
  "$ROOT/scripts/start-engine"
  "$ROOT/scripts/grading-engine" start --no-load
  "$ROOT/docker/standins/build" --grading-engine
}

start_engine_and_standins() {
  standins_steps
  "$ROOT/scripts/grading-engine" start  # copies whatever is still missing (normally nothing)
}

# On a fresh machine the stand-ins take minutes (debootstrap, downloads): scripts/run builds
# them in the background while it installs the Python and front-end packages.
standins_begin() {
  say "Docker engines and stand-in images, in the background (log: var/log/standins.log)"
  (set -e; standins_steps) >"$ROOT/var/log/standins.log" 2>&1 &
  STANDINS_PID=$!
}

standins_finish() {
  say "Waiting for the stand-in images (tail -f var/log/standins.log)"
  if ! wait "$STANDINS_PID"; then
    tail -n 30 "$ROOT/var/log/standins.log" >&2
    echo "The engines or the stand-in images failed; see var/log/standins.log" >&2
    return 1
  fi
  tail -n 1 "$ROOT/var/log/standins.log"
  # again: links the compose plugin, which the virtualenv made meanwhile holds
  "$ROOT/scripts/start-engine"
  "$ROOT/scripts/grading-engine" start
}
