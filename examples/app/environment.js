// What every process of the example app does with its configuration: check it at start, and
// show it only as fingerprints.
'use strict';

const crypto = require('node:crypto');

// Exit (78, EX_CONFIG) naming every missing variable at once, or the first wrong one: a process
// with a missing or wrong value must not start at all.
function check(required) {
  const missing = required.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    console.error(`missing required environment variables: ${missing.join(', ')}`);
    process.exit(78);
  }
  // A present but wrong value crashes just as surely: check the shape of what we can.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(process.env.DATABASE_URL)) {
    console.error('DATABASE_URL is not a URL (scheme://...)');
    process.exit(78);
  }
  if (process.env.PORT !== undefined) {
    const port = Number(process.env.PORT);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      console.error('PORT is not a port number');
      process.exit(78);
    }
  }
}

// {"NAME": "<sha256 of its value>", ...} for every variable: never a value.
function fingerprints() {
  const out = {};
  for (const name of Object.keys(process.env).sort()) {
    out[name] = crypto.createHash('sha256').update(process.env[name], 'utf8').digest('hex');
  }
  return out;
}

module.exports = { check, fingerprints };
