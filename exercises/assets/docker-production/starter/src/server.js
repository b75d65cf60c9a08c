'use strict';

const http = require('node:http');
const { databaseTarget, canConnect } = require('drydock-health');

const PORT = Number(process.env.PORT) || 3000;
const SHUTDOWN_TIMEOUT_MS = 10000;

function sendJson(res, status, body) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

async function health(res) {
  const db = databaseTarget();
  if (!db) {
    sendJson(res, 503, { status: 'unavailable', reason: 'no database configured (DATABASE_URL or DB_HOST)' });
    return;
  }
  const ok = await canConnect(db.host, db.port);
  sendJson(res, ok ? 200 : 503, {
    status: ok ? 'ok' : 'unavailable',
    database: `${db.host}:${db.port}`,
  });
}

// HEAD answers exactly like GET, without the body (Node drops it): `wget --spider`
// and `curl -I` health checks send HEAD.
const READS = new Set(['GET', 'HEAD']);

const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  if (READS.has(req.method) && path === '/health') {
    health(res).catch(() => sendJson(res, 503, { status: 'unavailable' }));
  } else if (READS.has(req.method) && path === '/') {
    sendJson(res, 200, {
      app: 'drydock-starter',
      version: process.env.APP_VERSION || '1.0.0',
      environment: process.env.NODE_ENV || 'development',
    });
  } else {
    sendJson(res, 404, { error: 'not found' });
  }
});

server.listen(PORT, () => {
  console.log(`listening on port ${PORT}`);
});

// `docker stop` sends SIGTERM: stop accepting connections, finish in-flight requests,
// then exit. If something hangs, exit anyway before Docker's SIGKILL does it for us.
function shutdown(signal) {
  console.log(`${signal} received, shutting down`);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => {
    console.error('forced shutdown after timeout');
    process.exit(1);
  }, SHUTDOWN_TIMEOUT_MS).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
