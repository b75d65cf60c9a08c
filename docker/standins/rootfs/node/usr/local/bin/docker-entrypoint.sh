#!/bin/sh
# Same behaviour as the official node image's entrypoint:
# run the command with node if the first argument contains a "-" or is not a system
# command (so `docker run node:18 script.js` and `docker run node:18 -e '...'` work).
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
