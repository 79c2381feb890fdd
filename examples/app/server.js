// Example app: all configuration from process.env, checked at start; its rows in PostgreSQL.
//
//   GET /healthz       200 "ok": the process is up (the database is not asked)
//   GET /healthz/db    200 "ok <role>": a query on the app's table answered (the health check
//                      of a deploy whose database is real: health_path = "/healthz/db")
//   POST /visits       a row written, then the latest rows read back (JSON)
//   GET /visits        the latest rows (JSON)
//   GET /fingerprints  {"NAME": "<sha256 of its value>", ...} for every variable: never a value
'use strict';

const http = require('node:http');
const { check, fingerprints } = require('./environment');

// What this app cannot run without. A deploy checks the same names (env_required) before any host
// is touched; this check is the last line of defence, and it names every missing one at once.
check(['PORT', 'DATABASE_URL', 'API_KEY', 'SESSION_SECRET']);
const port = Number(process.env.PORT);
const database = require('./database');

// A database answer as JSON, or 503 naming what failed (never the connection string).
function answer(res, work) {
  work.then(
    (body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    },
    (e) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end(`database: ${database.reason(e)}\n`);
    },
  );
}

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
  } else if (req.url === '/healthz/db') {
    database.health().then(
      (row) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`ok ${row.user}\n`);
      },
      (e) => {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end(`database: ${database.reason(e)}\n`);
      },
    );
  } else if (req.url === '/visits' && req.method === 'POST') {
    answer(res, database.visit());
  } else if (req.url === '/visits') {
    answer(res, database.latest());
  } else if (req.url === '/fingerprints') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(fingerprints(), null, 2)}\n`);
  } else {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }
});

server.listen(port, () => console.log(`listening on port ${port}`));
// Stop taking requests, let the ones under way finish, close the database's connections.
process.on('SIGTERM', () => server.close(() => database.pool.end().finally(() => process.exit(0))));
