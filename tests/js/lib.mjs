// Shared plumbing for the interop peers: argument parsing, JSON-line output and the
// JSON-line command loop on stdin. Every line on stdout is one JSON object with an "event".
import { createInterface } from 'node:readline';
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';

/** Writes one event line. Uint8Arrays become unprefixed hex, bigints decimal strings. */
export function emit(event, fields = {}) {
  const line = JSON.stringify({ event, ...fields }, (_key, value) => {
    if (value instanceof Uint8Array) return toHex(value);
    if (typeof value === 'bigint') return value.toString();
    return value;
  });
  process.stdout.write(line + '\n');
}

export function toHex(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex, name, length) {
  if (typeof hex !== 'string') throw new Error(`${name} must be a hex string`);
  const clean = hex.startsWith('0x') ? hex.slice(2) : hex;
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`${name} is not valid hex: ${hex}`);
  const bytes = Uint8Array.from(Buffer.from(clean, 'hex'));
  if (length !== undefined && bytes.length !== length) {
    throw new Error(`${name} must be ${length} bytes, got ${bytes.length}`);
  }
  return bytes;
}

/**
 * Parses `--name=value` / `--name value` flags and positional arguments.
 * Positional arguments fill `positionalNames` in order (e.g. port, key).
 */
export function parseArgs(argv, positionalNames) {
  const opts = {};
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq >= 0) {
        opts[arg.slice(2, eq)] = arg.slice(eq + 1);
      } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
        opts[arg.slice(2)] = argv[++i];
      } else {
        opts[arg.slice(2)] = 'true';
      }
    } else {
      positional.push(arg);
    }
  }
  positionalNames.forEach((name, i) => {
    if (positional[i] !== undefined && opts[name] === undefined) opts[name] = positional[i];
  });
  return opts;
}

export function parsePort(value, name) {
  const port = Number(value ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${name} must be a port number 0-65535, got ${value}`);
  }
  return port;
}

/** The private key from hex, or a fresh random one (hex "" or "random" means random). */
export function privateKey(hex) {
  if (hex === undefined || hex === '' || hex === 'random') return secp256k1.utils.randomPrivateKey();
  const key = fromHex(hex, 'key', 32);
  if (!secp256k1.utils.isValidPrivateKey(key)) throw new Error('key is not a valid secp256k1 secret');
  return key;
}

/** The 64-byte node id (uncompressed public key without the 0x04 prefix). */
export function nodeId(key) {
  return secp256k1.getPublicKey(key, false).subarray(1);
}

/**
 * Runs `handlers[cmd](command)` for every JSON line on stdin; answers failures with an
 * `error` event naming the command. Closing stdin runs `onEnd` (the parent has gone).
 */
export function commandLoop(handlers, onEnd) {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', async (line) => {
    if (line.trim() === '') return;
    let command;
    try {
      command = JSON.parse(line);
    } catch (err) {
      emit('error', { source: 'command', message: `not JSON: ${err.message}`, line });
      return;
    }
    const name = command.cmd ?? command.command;
    const handler = handlers[name];
    if (handler === undefined) {
      emit('error', { source: 'command', cmd: name ?? null, message: `unknown command ${name}` });
      return;
    }
    try {
      await handler(command);
    } catch (err) {
      emit('error', { source: 'command', cmd: name, message: String(err?.message ?? err) });
    }
  });
  rl.on('close', onEnd);
}

/** Reports uncaught failures as events instead of dying silently. */
export function reportCrashes() {
  process.on('uncaughtException', (err) => {
    emit('error', { source: 'uncaught', message: String(err?.stack ?? err) });
  });
  process.on('unhandledRejection', (err) => {
    emit('error', { source: 'unhandled', message: String(err?.stack ?? err) });
  });
}
