// An ethereumjs discv4 node (DPT) driven by JSON lines; see README.md for the protocol.
//
//   node dpt.mjs [port] [keyhex] [--host 127.0.0.1] [--tcp-port N] [--find-neighbours true]
//                [--refresh-ms 60000] [--timeout-ms 4000] [--trace]
import dgram from 'node:dgram';
import { DPT, decode as decodePacket } from '@ethereumjs/devp2p';
import {
  commandLoop, emit, fromHex, nodeId, parseArgs, parsePort, privateKey, reportCrashes,
} from './lib.mjs';

reportCrashes();
const opts = parseArgs(process.argv.slice(2), ['port', 'key']);
const host = opts.host ?? '127.0.0.1';
const port = parsePort(opts.port, 'port');
const tcpPort = opts['tcp-port'] === undefined ? null : parsePort(opts['tcp-port'], 'tcp-port');
const findNeighbours = (opts['find-neighbours'] ?? 'true') !== 'false';
const trace = opts.trace === 'true';
const key = privateKey(opts.key);
const id = nodeId(key);

// Written into the `from` field of every PING; the real UDP port is filled in once bound,
// because ethereumjs pings back the `from` endpoint, not the UDP source.
const endpoint = { address: host, udpPort: port === 0 ? null : port, tcpPort };

const packetTypes = { 1: 'ping', 2: 'pong', 3: 'findneighbours', 4: 'neighbours' };

function createSocket() {
  const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
  const emitOriginal = socket.emit.bind(socket);
  socket.emit = (name, ...args) => {
    if (name === 'message') {
      // The library's decoders ignore the byte offset of the Buffer dgram hands out; a
      // zero-offset copy keeps them correct.
      const [msg, rinfo] = args;
      const copy = Uint8Array.from(msg);
      observe(copy, rinfo);
      return emitOriginal(name, copy, rinfo);
    }
    return emitOriginal(name, ...args);
  };
  const sendOriginal = socket.send.bind(socket);
  socket.send = (msg, offset, length, sendPort, address, ...rest) => {
    if (trace) {
      emit('send', { address, port: sendPort, type: packetTypes[msg[97]] ?? msg[97], len: length });
    }
    return sendOriginal(msg, offset, length, sendPort, address, ...rest);
  };
  return socket;
}

function observe(datagram, rinfo) {
  const type = packetTypes[datagram[97]] ?? datagram[97];
  if (trace) emit('recv', { address: rinfo.address, port: rinfo.port, type, len: datagram.length });
  if (type !== 'neighbours') return;
  try {
    const packet = decodePacket(datagram);
    emit('neighbours', {
      address: rinfo.address,
      port: rinfo.port,
      peers: packet.data.peers.map((p) => ({
        id: p.id,
        address: p.endpoint.address,
        udpPort: p.endpoint.udpPort,
        tcpPort: p.endpoint.tcpPort,
      })),
    });
  } catch (err) {
    emit('error', { source: 'decode', message: String(err?.message ?? err), len: datagram.length });
  }
}

const peerJson = (peer) => ({
  id: peer.id,
  address: peer.address,
  udpPort: peer.udpPort ?? null,
  tcpPort: peer.tcpPort ?? null,
});

function target(command) {
  if (typeof command.address !== 'string') throw new Error('address (string) is required');
  return {
    address: command.address,
    udpPort: parsePort(command.udpPort, 'udpPort'),
    tcpPort: command.tcpPort ?? null,
  };
}

const dpt = new DPT(key, {
  endpoint,
  createSocket,
  shouldFindNeighbours: findNeighbours,
  refreshInterval: Number(opts['refresh-ms'] ?? 60000),
  timeout: Number(opts['timeout-ms'] ?? 4000),
});

dpt.events.on('listening', () => {
  const bound = dpt._server._socket.address();
  endpoint.udpPort = bound.port;
  emit('listening', { port: bound.port, address: bound.address, id });
});
dpt.events.on('peer:new', (peer) => emit('peer:new', peerJson(peer)));
dpt.events.on('peer:added', (peer) => emit('peer:added', peerJson(peer)));
dpt.events.on('peer:removed', (peer) => emit('peer:removed', peerJson(peer)));
dpt.events.on('error', (err) => emit('error', { source: 'dpt', message: String(err?.message ?? err) }));
dpt.events.on('close', () => emit('close'));

function shutdown() {
  try {
    dpt.destroy();
  } catch {
    // already destroyed
  }
  process.exit(0);
}

commandLoop(
  {
    // PING the node, add it to the table, then FINDNODE our own id (what DPT.bootstrap does,
    // but with the outcome reported).
    async bootstrap(command) {
      const info = target(command);
      try {
        const peer = await dpt.addPeer(info);
        dpt.confirmPeer(Buffer.from(peer.id).toString('hex'));
        emit('bootstrap:ok', peerJson(peer));
        if (findNeighbours) dpt._server.findneighbours(peer, dpt.id);
      } catch (err) {
        emit('bootstrap:failed', { ...info, message: String(err?.message ?? err) });
      }
    },
    async addpeer(command) {
      const info = target(command);
      try {
        emit('addpeer:ok', peerJson(await dpt.addPeer(info)));
      } catch (err) {
        emit('addpeer:failed', { ...info, message: String(err?.message ?? err) });
      }
    },
    async ping(command) {
      const info = target(command);
      try {
        const peer = await dpt._server.ping(info);
        emit('pong', peerJson(peer));
      } catch (err) {
        emit('ping:failed', { ...info, message: String(err?.message ?? err) });
      }
    },
    findneighbours(command) {
      const info = target(command);
      const wanted = command.target === undefined ? id : fromHex(command.target, 'target', 64);
      dpt._server.findneighbours(info, wanted);
      emit('findneighbours:sent', { address: info.address, udpPort: info.udpPort });
    },
    peers() {
      emit('peers', { peers: dpt.getPeers().map(peerJson) });
    },
    removepeer(command) {
      dpt.removePeer(fromHex(command.id, 'id', 64));
      emit('removepeer:ok', { id: command.id });
    },
    exit: shutdown,
  },
  shutdown,
);

dpt.bind(port, host);
