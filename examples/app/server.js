// Example app: all configuration from process.env, checked at start.
//
//   GET /healthz       200 "ok"
//   GET /fingerprints  {"NAME": "<sha256 of its value>", ...} for every variable: never a value
'use strict';

const crypto = require('node:crypto');
const http = require('node:http');

// What this app cannot run without. A deploy checks the same names (env_required) before any host
// is touched; this check is the last line of defence, and it names every missing one at once.
const REQUIRED = ['PORT', 'DATABASE_URL', 'API_KEY', 'SESSION_SECRET'];

const missing = REQUIRED.filter((name) => !process.env[name]);
if (missing.length > 0) {
  console.error(`missing required environment variables: ${missing.join(', ')}`);
  process.exit(78); // EX_CONFIG
}

// A present but wrong value crashes just as surely: check the shape of what we can.
if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(process.env.DATABASE_URL)) {
  console.error('DATABASE_URL is not a URL (scheme://...)');
  process.exit(78);
}

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('PORT is not a port number');
  process.exit(78);
}

function fingerprints() {
  const out = {};
  for (const name of Object.keys(process.env).sort()) {
    out[name] = crypto.createHash('sha256').update(process.env[name], 'utf8').digest('hex');
  }
  return out;
}

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
  } else if (req.url === '/fingerprints') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(fingerprints(), null, 2)}\n`);
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
});

server.listen(port, () => console.log(`listening on port ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
