#!/usr/bin/env node
// An SMTP server that accepts every message and keeps it as a file, for the
// Rust integration tests of Repères.
//
// Usage:
//   node smtp-capture.mjs --port PORT --dir DIR
//        [--tls-key KEY.pem --tls-cert CERT.pem [--implicit-tls]]
//        [--user NAME --password SECRET]
//
// Listens on 127.0.0.1:PORT. By default: plain SMTP, no TLS (STARTTLS is not
// offered), authentication optional (AUTH PLAIN/LOGIN is offered over plain
// text and any credentials are accepted, so a client configured with or
// without credentials both work). With --tls-key/--tls-cert, STARTTLS is
// offered and required before MAIL FROM (or, with --implicit-tls, the whole
// connection is TLS from the start). With --user/--password, authentication is
// required and only those credentials are accepted (over TLS only when TLS is
// on). Every message is written as received (raw RFC 5322
// bytes, exactly what the client sent after DATA) to
//   DIR/<sequence>-<timestamp>.eml
// with <sequence> zero-padded to 6 digits (arrival order; it continues after
// the highest sequence already in DIR) and <timestamp> in milliseconds since
// the epoch. Each file is first written under a hidden temporary name and then
// renamed, so a reader never sees half a message. DIR is created if needed.
//
// Prints `READY PORT` on stdout once listening (`--port 0` picks a free port
// and the line tells which). Runs until SIGTERM/SIGINT, then exits 0.

import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';

import { SMTPServer } from 'smtp-server';

function usage(message) {
  if (message) console.error(`smtp-capture.mjs: ${message}`);
  console.error('usage: node smtp-capture.mjs --port PORT --dir DIR');
  process.exit(2);
}

const args = { port: undefined, dir: undefined, key: undefined, cert: undefined, implicit: false, user: undefined, password: undefined };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => {
      if (eq > 0) return arg.slice(eq + 1);
      i += 1;
      if (i >= argv.length) usage(`${flag} needs a value`);
      return argv[i];
    };
    switch (flag) {
      case '--port': args.port = value(); break;
      case '--dir': args.dir = value(); break;
      case '--tls-key': args.key = value(); break;
      case '--tls-cert': args.cert = value(); break;
      case '--implicit-tls': args.implicit = true; break;
      case '--user': args.user = value(); break;
      case '--password': args.password = value(); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${arg}`);
    }
  }
}
if (args.port === undefined || !/^\d+$/.test(args.port) || Number(args.port) > 65535) usage('--port PORT is required (0..65535)');
if (!args.dir) usage('--dir DIR is required');

const dir = path.resolve(args.dir);
fs.mkdirSync(dir, { recursive: true });

let sequence = 0;
for (const name of fs.readdirSync(dir)) {
  const m = /^(\d+)-\d+\.eml$/.exec(name);
  if (m) sequence = Math.max(sequence, Number(m[1]));
}

async function store(raw) {
  sequence += 1;
  const seq = String(sequence).padStart(6, '0');
  const final = path.join(dir, `${seq}-${Date.now()}.eml`);
  const temp = path.join(dir, `.${seq}-${process.pid}.eml.tmp`);
  await fs.promises.writeFile(temp, raw);
  await fs.promises.rename(temp, final);
  return final;
}

const tls = Boolean(args.key && args.cert);
if (Boolean(args.key) !== Boolean(args.cert)) usage('--tls-key and --tls-cert go together');
if (Boolean(args.user) !== Boolean(args.password)) usage('--user and --password go together');
const strictAuth = Boolean(args.user);

const server = new SMTPServer({
  secure: tls && args.implicit,
  ...(tls ? { key: fs.readFileSync(args.key), cert: fs.readFileSync(args.cert) } : {}),
  name: 'smtp-capture.test',
  banner: 'smtp-capture for Reperes tests',
  authOptional: !strictAuth,
  allowInsecureAuth: !tls,
  disabledCommands: tls ? [] : ['STARTTLS'],
  hideSTARTTLS: !tls,
  logger: false,
  disableReverseLookup: true,
  onAuth(auth, session, callback) {
    if (strictAuth && (auth.username !== args.user || auth.password !== args.password)) {
      const err = new Error('Invalid username or password');
      err.responseCode = 535;
      callback(err);
      return;
    }
    callback(null, { user: auth.username || 'anonymous' });
  },
  onMailFrom(address, session, callback) {
    if (tls && !session.secure) {
      const err = new Error('Must issue a STARTTLS command first');
      err.responseCode = 530;
      callback(err);
      return;
    }
    callback();
  },
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('error', (err) => callback(err));
    stream.on('end', () => {
      if (stream.sizeExceeded) {
        const err = new Error('message too large');
        err.responseCode = 552;
        callback(err);
        return;
      }
      store(Buffer.concat(chunks)).then(
        (file) => {
          console.error(`smtp-capture: ${path.basename(file)} from <${session.envelope.mailFrom?.address ?? ''}> to ${session.envelope.rcptTo.map((r) => `<${r.address}>`).join(', ')}`);
          callback(null, `queued as ${path.basename(file)}`);
        },
        (err) => {
          console.error(`smtp-capture: cannot store message: ${err.message}`);
          const e = new Error('cannot store message');
          e.responseCode = 451;
          callback(e);
        },
      );
    });
  },
});

server.on('error', (err) => {
  console.error(`smtp-capture.mjs: ${err.message}`);
  if (!listening) process.exit(1);
});

let listening = false;
server.listen(Number(args.port), '127.0.0.1', () => {
  listening = true;
  process.stdout.write(`READY ${server.server.address().port}\n`);
});

function shutdown() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
