// Example app: all configuration from process.env, checked at start.
//
//   GET /healthz       200 "ok"
//   GET /fingerprints  {"NAME": "<sha256 of its value>", ...} for every variable: never a value
'use strict';

const http = require('node:http');
const { check, fingerprints } = require('./environment');

// What this app cannot run without. A deploy checks the same names (env_required) before any host
// is touched; this check is the last line of defence, and it names every missing one at once.
check(['PORT', 'DATABASE_URL', 'API_KEY', 'SESSION_SECRET']);
const port = Number(process.env.PORT);

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
