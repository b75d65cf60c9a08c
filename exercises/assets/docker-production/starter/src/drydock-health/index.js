'use strict';

const net = require('node:net');

const DEFAULT_DB_PORT = 5432;

/**
 * Where the database is, from DATABASE_URL (postgres://user:pass@host:port/db)
 * or else DB_HOST / DB_PORT. Returns null when neither is configured.
 */
function databaseTarget(env = process.env) {
  if (env.DATABASE_URL) {
    let url;
    try {
      url = new URL(env.DATABASE_URL);
    } catch {
      return null;
    }
    if (!url.hostname) return null;
    return { host: url.hostname, port: Number(url.port) || DEFAULT_DB_PORT };
  }
  if (env.DB_HOST) {
    return { host: env.DB_HOST, port: Number(env.DB_PORT) || DEFAULT_DB_PORT };
  }
  return null;
}

/** Resolves true when host:port accepts a TCP connection within timeoutMs, else false. */
function canConnect(host, port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

module.exports = { databaseTarget, canConnect };
