// The example app's database: PostgreSQL at DATABASE_URL, through node-postgres (`pg`). One pool
// for the process, which connects only when a request needs it: the process starts (and serves
// /healthz) whether or not the database is reachable; /healthz/db is the check that asks it.
'use strict';

const os = require('node:os');
const { Pool } = require('pg');
const { value } = require('./environment');

const pool = new Pool({
  connectionString: value('DATABASE_URL'),
  max: 4,
  // A request waits this long for a connection, then fails (a health check must not hang).
  connectionTimeoutMillis: 3000,
  idleTimeoutMillis: 10000,
});
// An idle connection the server ends (a restart, a terminated session) is replaced at the next
// query; without a listener the error would end the process.
pool.on('error', (e) => console.error(`database connection lost: ${e.code || e.message}`));

// Who we are connected as: the health check's query, which fails on a wrong password, an
// unreachable server or a role without the app's grants (it reads the app's table).
async function health() {
  const { rows } = await pool.query(
    'SELECT current_user AS "user", (SELECT count(*) FROM visits) AS visits',
  );
  return rows[0];
}

// One more row (this host, the role it was written as), then the latest ones.
async function visit() {
  await pool.query('INSERT INTO visits (host, db_user) VALUES ($1, current_user)', [os.hostname()]);
  return latest();
}

async function latest() {
  const { rows } = await pool.query(
    'SELECT id, at, host, db_user FROM visits ORDER BY id DESC LIMIT 5',
  );
  return rows;
}

// What went wrong, without the connection string: pg's errors name no password, but a message
// is cut to its first line all the same.
function reason(e) {
  return `${e.code || 'error'}: ${String(e.message).split('\n')[0]}`;
}

module.exports = { pool, health, visit, latest, reason };
