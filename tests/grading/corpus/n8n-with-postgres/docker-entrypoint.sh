#!/bin/sh
if [ -d /opt/custom-certificates ]; then
  echo "Trusting custom certificates from /opt/custom-certificates."
  export NODE_OPTIONS="--use-openssl-ca $NODE_OPTIONS"
  export SSL_CERT_DIR=/opt/custom-certificates
fi

if [ "$#" -gt 0 ]; then
  exec "$@"
else
  exec node /usr/local/lib/node_modules/n8n/dist/server.js
fi
