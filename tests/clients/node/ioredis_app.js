#!/usr/bin/env node
// An ioredis application for the rcleak `run` tests.
//
//   node ioredis_app.js leak   PORT COUNT [RATE]   a new Redis(port) per request (PING),
//                                                  never quit(); process.exit() at the end
//                                                  with all of them open.
//   node ioredis_app.js shared PORT COUNT [RATE]   one shared client for every request,
//                                                  quit() at the end.
//   node ioredis_app.js quit   PORT COUNT [RATE]   a new Redis(port) per request (PING),
//                                                  quit() and its close awaited: closed
//                                                  as ioredis means it (Redis closes
//                                                  first, the client's end is in
//                                                  CLOSE_WAIT until ioredis closes it).
//
// RATE: requests per second (0 = as fast as possible).  At the end one line on stdout:
//   DONE lib=ioredis mode=M pid=P comm=C requests=R opened=N closed=M open=O
// opened/closed count the clients' "connect" and "close" events (TCP connections
// made / closed); open = opened - closed.  Exit status 0, 1 on a Redis error.
'use strict';

const fs = require('fs');
const Redis = require('ioredis');

const [mode, portArg, countArg, rateArg] = process.argv.slice(2);
if (!['leak', 'shared', 'quit'].includes(mode) || !portArg || !countArg) {
  process.stderr.write('usage: ioredis_app.js leak|shared|quit PORT COUNT [RATE]\n');
  process.exit(2);
}
const port = parseInt(portArg, 10);
const count = parseInt(countArg, 10);
const rate = rateArg ? parseFloat(rateArg) : 0;
const counts = { opened: 0, closed: 0, requests: 0 };

function newClient() {
  // no reconnects: a connection the test sees is one the program asked for
  const c = new Redis(port, '127.0.0.1', { retryStrategy: () => null, maxRetriesPerRequest: 0 });
  c.on('connect', () => { counts.opened += 1; });
  c.on('close', () => { counts.closed += 1; });
  c.on('error', (e) => { process.stderr.write('ioredis_app: ' + e.message + '\n'); });
  return c;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function pace(t0, i) {
  if (rate > 0) {
    const delay = t0 + (i * 1000) / rate - Date.now();
    if (delay > 0) await sleep(delay);
  }
}

async function ping(c) {
  const r = await c.ping();
  if (r !== 'PONG') throw new Error('PING answered ' + r);
  counts.requests += 1;
}

function done() {
  const comm = fs.readFileSync('/proc/self/comm', 'utf8').trim();
  process.stdout.write(`DONE lib=ioredis mode=${mode} pid=${process.pid} comm=${comm} ` +
    `requests=${counts.requests} opened=${counts.opened} closed=${counts.closed} ` +
    `open=${counts.opened - counts.closed}\n`);
}

async function main() {
  const t0 = Date.now();
  if (mode === 'leak') {
    const clients = [];
    for (let i = 0; i < count; i++) {
      await pace(t0, i);
      const c = newClient();
      clients.push(c);
      await ping(c);
    }
    done();
    // exit with every connection open: the kernel closes them
    process.stdout.write('', () => process.exit(0));
  } else if (mode === 'quit') {
    for (let i = 0; i < count; i++) {
      await pace(t0, i);
      const c = newClient();
      const closed = new Promise((r) => c.once('close', r));
      await ping(c);
      await c.quit();
      await closed;
    }
    done();
  } else {
    const c = newClient();
    for (let i = 0; i < count; i++) {
      await pace(t0, i);
      await ping(c);
    }
    await c.quit();
    // quit() resolves on the server's OK; wait for the socket's close event
    for (let i = 0; i < 200 && counts.closed < counts.opened; i++) await sleep(10);
    done();
  }
}

main().catch((e) => {
  process.stderr.write('ioredis_app: ' + (e && e.message) + '\n');
  process.exit(1);
});
