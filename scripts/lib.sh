# Shared set-up steps for scripts/run, scripts/test and .ci/run. Every step is idempotent:
# on a machine that already has everything, it costs a few seconds.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
mkdir -p "$ROOT/var/log"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# Debian packages the platform and its tests need (installed only when missing, only as root).
SYSTEM_PACKAGES=(python3-venv python3-dev build-essential git curl ca-certificates
  docker.io redis-server debootstrap chromium fonts-dejavu-core iproute2 util-linux e2fsprogs socat)

ensure_system_packages() {
  local missing=()
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  # Node.js may come from Debian (nodejs + npm) or from a vendor package that bundles npm.
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
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

ensure_assets() {
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
  mkdir -p "$ROOT/var/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$ROOT/var/redis" \
    --logfile "$ROOT/var/log/redis.log" --appendonly yes --save ""
  for _ in $(seq 1 50); do redis_up && return 0; sleep 0.2; done
  echo "Redis did not start; see var/log/redis.log" >&2
  return 1
}

# The machine's engine builds the stand-in base images (and Drydock's own image); learners'
# submissions run only on the dedicated grading engine (scripts/grading-engine), which gets a
# copy of the stand-ins.
start_engine_and_standins() {
  "$ROOT/scripts/start-engine"
  "$ROOT/docker/standins/build"
  "$ROOT/scripts/grading-engine" start
}
