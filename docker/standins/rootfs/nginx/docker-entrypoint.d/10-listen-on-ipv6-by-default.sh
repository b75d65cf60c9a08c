#!/bin/sh
# Like the official image: also listen on [::]:80 in the untouched default.conf when the
# container has IPv6.
set -e
ME=$(basename "$0")
DEFAULT_CONF_FILE="etc/nginx/conf.d/default.conf"
[ -f "/proc/net/if_inet6" ] || { echo "$ME: info: ipv6 not available"; exit 0; }
[ -f "/$DEFAULT_CONF_FILE" ] || { echo "$ME: info: /$DEFAULT_CONF_FILE is not a file or does not exist"; exit 0; }
touch "/$DEFAULT_CONF_FILE" 2>/dev/null || { echo "$ME: info: can not modify /$DEFAULT_CONF_FILE (read-only file system?)"; exit 0; }
if grep -q 'listen  \[::]\:80;' "/$DEFAULT_CONF_FILE"; then
    exit 0
fi
if [ "$(grep -c 'listen ' "/$DEFAULT_CONF_FILE")" != 1 ] || ! grep -q '^    listen       80;$' "/$DEFAULT_CONF_FILE"; then
    echo "$ME: info: /$DEFAULT_CONF_FILE differs from the packaged version"
    exit 0
fi
echo "$ME: info: Enabled listen on IPv6 in /$DEFAULT_CONF_FILE"
sed -i -E 's,listen       80;,listen       80;\n    listen  [::]:80;,' "/$DEFAULT_CONF_FILE"
