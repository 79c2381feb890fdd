// What every process of the example app does with its configuration: check it at start, and
// show it only as fingerprints. A variable is in the environment, or, delivered as a file
// (systemd credentials: the deploy's `credentials`), in the file its NAME_FILE variable names.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');

// NAME's raw bytes: from the environment, or from the file NAME_FILE names; undefined if neither.
function raw(name) {
  if (process.env[name] !== undefined) return Buffer.from(process.env[name], 'utf8');
  const file = process.env[`${name}_FILE`];
  return file === undefined ? undefined : fs.readFileSync(file);
}

// NAME's value as text.
function value(name) {
  const bytes = raw(name);
  return bytes === undefined ? undefined : bytes.toString('utf8');
}

// Exit (78, EX_CONFIG) naming every missing variable at once, or the first wrong one: a process
// with a missing or wrong value must not start at all.
function check(required) {
  const missing = required.filter((name) => {
    try {
      return !value(name);
    } catch (e) {
      console.error(`${name}_FILE: cannot read ${process.env[`${name}_FILE`]} (${e.code})`);
      return true;
    }
  });
  if (missing.length > 0) {
    console.error(`missing required environment variables: ${missing.join(', ')}`);
    process.exit(78);
  }
  // A present but wrong value crashes just as surely: check the shape of what we can.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value('DATABASE_URL'))) {
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

// {"NAME": "<sha256 of its value>", ...} for every variable, those read from files too (the
// sha256 of the file's content): never a value.
function fingerprints() {
  const names = new Set(Object.keys(process.env));
  for (const name of Object.keys(process.env)) {
    if (name.endsWith('_FILE')) names.add(name.slice(0, -'_FILE'.length));
  }
  const out = {};
  for (const name of [...names].sort()) {
    let bytes;
    try {
      bytes = raw(name);
    } catch {
      continue; // a NAME_FILE that names no readable file is not a variable delivered as one
    }
    if (bytes !== undefined) out[name] = crypto.createHash('sha256').update(bytes).digest('hex');
  }
  return out;
}

module.exports = { check, fingerprints, value };
