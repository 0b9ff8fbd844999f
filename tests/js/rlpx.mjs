// An ethereumjs RLPx node driven by JSON lines; see README.md for the protocol.
//
//   node rlpx.mjs [port] [keyhex] [--host 127.0.0.1] [--capabilities snap/1]
//                 [--client-id ethereumjs-devp2p/interop] [--max-peers 10] [--timeout-ms 10000]
//                 [--hello-port N]
// Listens on 127.0.0.1:port (0 picks a free port). Capabilities other than snap/1 (eth/62-68)
// are accepted, but no Status is sent, so eth peers are dropped after 5 s.
import { Common, Hardfork, Mainnet } from '@ethereumjs/common';
import { RLP } from '@ethereumjs/rlp';
import { DISCONNECT_REASON, DisconnectReasonNames, ETH, Peer, RLPx, SNAP } from '@ethereumjs/devp2p';
import {
  commandLoop, emit, fromHex, nodeId, parseArgs, parsePort, privateKey, reportCrashes, toHex,
} from './lib.mjs';

reportCrashes();
const opts = parseArgs(process.argv.slice(2), ['port', 'key']);
const host = opts.host ?? '127.0.0.1';
const port = parsePort(opts.port, 'port');
const key = privateKey(opts.key);
const id = nodeId(key);

const known = {
  'snap/1': SNAP.snap,
  'eth/62': ETH.eth62, 'eth/63': ETH.eth63, 'eth/64': ETH.eth64, 'eth/65': ETH.eth65,
  'eth/66': ETH.eth66, 'eth/67': ETH.eth67, 'eth/68': ETH.eth68,
};
const capabilities = (opts.capabilities ?? 'snap/1').split(',').map((name) => {
  const cap = known[name.trim()];
  if (cap === undefined) throw new Error(`unknown capability ${name}; known: ${Object.keys(known)}`);
  return cap;
});

const peerId = (peer) => {
  const remote = peer.getId();
  return remote === null ? null : toHex(remote);
};
const socketInfo = (peer) => ({
  address: peer._socket?.remoteAddress ?? null,
  remotePort: peer._socket?.remotePort ?? null,
});

// Peer-level events the library keeps to itself: p2p PING/PONG, a DISCONNECT received before
// or after Hello, and connections that close without completing the handshake.
const wrap = (name, before) => {
  const original = Peer.prototype[name];
  Peer.prototype[name] = function (...args) {
    before.call(this, ...args);
    return original.apply(this, args);
  };
};
wrap('_handlePing', function () {
  emit('ping', { id: peerId(this) });
});
wrap('_handlePong', function () {
  emit('pong', { id: peerId(this) });
});
wrap('_handleDisconnect', function (payload) {
  emit('disconnect:received', { id: peerId(this), payload: RLP.encode(payload) });
});
wrap('_onSocketClose', function () {
  if (!this._connected) {
    emit('connection:closed', {
      id: peerId(this),
      ...socketInfo(this),
      handshake: this._state,
      gotHello: this._hello !== null,
      reason: this._disconnectReason ?? null,
      disconnectWe: this._disconnectWe,
    });
  }
});

// --eth-hardfork <name>: run eth with a mainnet Common at that hardfork and send Status
// (mainnet genesis as head and genesis, td 1) on every eth session; `eth:status` reports the
// remote's Status once ethereumjs has validated it (network id, genesis, EIP-2124 fork id).
const ethHardfork = opts['eth-hardfork'];
const common = ethHardfork === undefined ? undefined : new Common({ chain: Mainnet, hardfork: ethHardfork });
const MAINNET_GENESIS = fromHex('d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3', 'genesis', 32);

const rlpx = new RLPx(key, {
  common,
  capabilities,
  clientId: new TextEncoder().encode(opts['client-id'] ?? 'ethereumjs-devp2p/interop'),
  listenPort: opts['hello-port'] === undefined ? null : parsePort(opts['hello-port'], 'hello-port'),
  maxPeers: Number(opts['max-peers'] ?? 10),
  timeout: Number(opts['timeout-ms'] ?? 10000),
});

const protocolName = (protocol) => `${protocol.constructor.name.toLowerCase()}/${protocol._version}`;

rlpx.events.on('listening', () => {
  const bound = rlpx._server.address();
  emit('listening', { port: bound.port, address: bound.address, id });
});
rlpx.events.on('peer:added', (peer) => {
  const hello = peer.getHelloMessage();
  const remote = peerId(peer);
  emit('peer:added', {
    id: remote,
    ...socketInfo(peer),
    clientId: hello.clientId,
    protocolVersion: hello.protocolVersion,
    capabilities: hello.capabilities,
    port: hello.port,
    helloId: hello.id,
    protocols: peer.getProtocols().map(protocolName),
  });
  for (const protocol of peer.getProtocols()) {
    if (common !== undefined && protocol.constructor.name === 'ETH') {
      protocol.events.on('status', (status) => {
        emit('eth:status', {
          id: remote,
          chainId: Number(BigInt(`0x${toHex(status.chainId) || '0'}`)),
          genesisHash: toHex(status.genesisHash),
          forkHash: toHex(status.forkId[0]),
          forkNext: toHex(status.forkId[1]),
        });
      });
      protocol.sendStatus({ td: Uint8Array.of(1), bestHash: MAINNET_GENESIS, genesisHash: MAINNET_GENESIS });
    }
    protocol.events.on('message', (code, payload) => {
      emit('message', { id: remote, protocol: protocolName(protocol), code, payload: RLP.encode(payload) });
    });
  }
});
rlpx.events.on('peer:removed', (peer, reason, disconnectWe) => {
  emit('peer:removed', {
    id: peerId(peer),
    reason: reason ?? null,
    reasonName: DisconnectReasonNames[reason] ?? null,
    disconnectWe: disconnectWe === true,
  });
});
rlpx.events.on('peer:error', (peer, err) => {
  emit('peer:error', { id: peerId(peer), message: String(err?.message ?? err) });
});
rlpx.events.on('error', (err) => emit('error', { source: 'rlpx', message: String(err?.message ?? err) }));

function findPeer(hexId) {
  const wanted = toHex(fromHex(hexId, 'id', 64));
  const peer = rlpx.getPeers().find((p) => peerId(p) === wanted);
  if (peer === undefined) throw new Error(`no connected peer ${wanted}`);
  return peer;
}

function shutdown() {
  try {
    rlpx.destroy();
  } catch {
    // already destroyed
  }
  process.exit(0);
}

commandLoop(
  {
    async connect(command) {
      const remote = {
        id: fromHex(command.id, 'id', 64),
        address: command.address,
        tcpPort: parsePort(command.tcpPort, 'tcpPort'),
      };
      try {
        await rlpx.connect(remote);
        emit('connect:ok', { id: command.id });
      } catch (err) {
        emit('connect:failed', { id: command.id, message: String(err?.message ?? err) });
      }
    },
    disconnect(command) {
      const reason = command.reason ?? DISCONNECT_REASON.DISCONNECT_REQUESTED;
      findPeer(command.id).disconnect(reason);
    },
    ping(command) {
      findPeer(command.id)._sendPing();
      emit('ping:sent', { id: command.id });
    },
    // Sends a capability message: `payload` is the hex RLP of the message body.
    send(command) {
      const peer = findPeer(command.id);
      const wanted = command.protocol ?? 'snap/1';
      const protocol = peer.getProtocols().find((p) => protocolName(p) === wanted);
      if (protocol === undefined) throw new Error(`peer does not run ${wanted}`);
      protocol.sendMessage(command.code, RLP.decode(fromHex(command.payload, 'payload')));
      emit('send:ok', { id: command.id, protocol: wanted, code: command.code });
    },
    peers() {
      emit('peers', {
        peers: rlpx.getPeers().map((p) => ({ id: peerId(p), ...socketInfo(p) })),
      });
    },
    exit: shutdown,
  },
  shutdown,
);

rlpx.listen(port, host);
