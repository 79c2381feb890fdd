// Example worker: the same release and configuration as the web process, no port. It proves it
// is alive by logging every few seconds (a queue worker would take jobs here).
'use strict';

const { check } = require('./environment');

check(['DATABASE_URL', 'API_KEY', 'SESSION_SECRET']);

let beats = 0;
const timer = setInterval(() => {
  beats += 1;
  console.log(`worker alive (${beats})`);
}, 5000);
console.log('worker started');
process.on('SIGTERM', () => {
  clearInterval(timer);
  process.exit(0);
});
