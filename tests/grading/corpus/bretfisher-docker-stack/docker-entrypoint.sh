#!/bin/sh
set -e

# copy file-based secrets (FOO_FILE=/run/secrets/foo) into environment variables (FOO)
for var in $(env | grep '_FILE=' | cut -d= -f1); do
  file=$(printenv "$var")
  [ -r "$file" ] && export "${var%_FILE}=$(cat "$file")"
done

exec "$@"
