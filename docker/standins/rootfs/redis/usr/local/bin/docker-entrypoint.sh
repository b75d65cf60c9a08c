#!/bin/sh
# Entrypoint of Drydock's redis stand-in image (Debian's redis-server 7.0 underneath).
# Follows the official redis image's docker-entrypoint.sh:
#   * `docker run IMAGE --appendonly yes` or `IMAGE /path/redis.conf` runs redis-server;
#   * started as root, /data is chowned and redis-server re-runs as the redis user (uid 999);
#   * umask 0077 unless one was set.
# Stand-in tweak: the official image compiles protected mode off (it listens on all addresses
# without a password); Debian's build has it on, so without a config file it is switched off
# here, first, so that a later `--protected-mode yes` still wins.
set -e

# first arg is `-f` or `--some-option`, or ends in .conf
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "${2%.conf}" = "${2:-}" ] && [ -z "${REDIS_STANDIN_PROTECTED:-}" ]; then
	shift
	set -- redis-server --bind '* -::*' --protected-mode no "$@"
	export REDIS_STANDIN_PROTECTED=1
fi

# allow the container to be started with `--user`
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec su-exec redis "$0" "$@"
fi

# set an appropriate umask (if one isn't set already)
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi

exec "$@"
