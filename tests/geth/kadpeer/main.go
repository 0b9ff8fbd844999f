// Command kadpeer is kadnode's go-ethereum interop peer: a go-ethereum p2p.Server with
// discv4 on loopback and a tiny test protocol, kadtest/1, printing one JSON event per line
// on stdout. See ../README.md for its flags, commands and events.
package main

import (
	"bufio"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/forkid"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rlp"
	"github.com/ethereum/go-ethereum/version"
)

// kadtest/1 message codes.
const (
	msgHello = 0 // payload: an RLP string; the receiver answers with msgEcho
	msgEcho  = 1 // payload: the RLP string of the hello being answered
	msgCount = 2
	// maxText bounds a kadtest message's payload.
	maxText = 1024
)

// ethEntry is the `eth` ENR entry (EIP-2124 fork id), as go-ethereum's eth protocol sets it.
type ethEntry struct {
	ForkID forkid.ID
	Rest   []rlp.RawValue `rlp:"tail"`
}

func (ethEntry) ENRKey() string { return "eth" }

// out writes one JSON object per line to stdout.
var out = struct {
	sync.Mutex
	enc *json.Encoder
}{enc: json.NewEncoder(os.Stdout)}

func emit(event string, fields map[string]any) {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["event"] = event
	out.Lock()
	defer out.Unlock()
	_ = out.enc.Encode(fields)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kadpeer: "+format+"\n", args...)
	os.Exit(2)
}

func pubkeyHex(n *enode.Node) string {
	if n.Pubkey() == nil {
		return ""
	}
	return hex.EncodeToString(crypto.FromECDSAPub(n.Pubkey())[1:])
}

func parseNodes(list string) []*enode.Node {
	var nodes []*enode.Node
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := enode.Parse(enode.ValidSchemes, s)
		if err != nil {
			fail("bad node %q: %v", s, err)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// parseForkID reads "mainnet" (mainnet's fork id with every known fork passed) or
// "<8 hex digits>:<next>".
func parseForkID(s string) (forkid.ID, error) {
	if s == "mainnet" {
		genesis := core.DefaultGenesisBlock().ToBlock()
		return forkid.NewID(params.MainnetChainConfig, genesis, math.MaxUint64, math.MaxUint64), nil
	}
	hashHex, nextStr, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(strings.TrimPrefix(hashHex, "0x"))
	if err != nil || len(raw) != 4 {
		return forkid.ID{}, fmt.Errorf("fork hash must be 4 bytes of hex: %q", hashHex)
	}
	var id forkid.ID
	copy(id.Hash[:], raw)
	if nextStr != "" {
		if id.Next, err = strconv.ParseUint(nextStr, 10, 64); err != nil {
			return forkid.ID{}, fmt.Errorf("bad fork next %q: %v", nextStr, err)
		}
	}
	return id, nil
}

// peers holds the kadtest/1 writer of every running session, for the `hello` command.
var peers = struct {
	sync.Mutex
	rw map[enode.ID]p2p.MsgReadWriter
}{rw: map[enode.ID]p2p.MsgReadWriter{}}

func capNames(caps []p2p.Cap) []string {
	names := make([]string, 0, len(caps))
	for _, c := range caps {
		names = append(names, c.String())
	}
	return names
}

// runKadtest is kadtest/1's run loop: greet, answer every hello with an echo.
func runKadtest(greeting string) func(*p2p.Peer, p2p.MsgReadWriter) error {
	return func(p *p2p.Peer, rw p2p.MsgReadWriter) error {
		emit("peer:added", map[string]any{
			"id":      p.ID().String(),
			"pubkey":  pubkeyHex(p.Node()),
			"name":    p.Name(),
			"caps":    capNames(p.Caps()),
			"inbound": p.Inbound(),
			"remote":  p.RemoteAddr().String(),
		})
		peers.Lock()
		peers.rw[p.ID()] = rw
		peers.Unlock()
		defer func() {
			peers.Lock()
			delete(peers.rw, p.ID())
			peers.Unlock()
		}()
		if greeting != "" {
			if err := p2p.Send(rw, msgHello, greeting); err != nil {
				return err
			}
		}
		for {
			msg, err := rw.ReadMsg()
			if err != nil {
				return err
			}
			if msg.Size > maxText+8 {
				return fmt.Errorf("kadtest message too large: %d bytes", msg.Size)
			}
			var text string
			if err := msg.Decode(&text); err != nil {
				return fmt.Errorf("kadtest message code %d: %v", msg.Code, err)
			}
			switch msg.Code {
			case msgHello:
				emit("kadtest:hello", map[string]any{"id": p.ID().String(), "text": text})
				if err := p2p.Send(rw, msgEcho, text); err != nil {
					return err
				}
			case msgEcho:
				emit("kadtest:echo", map[string]any{"id": p.ID().String(), "text": text})
			default:
				return fmt.Errorf("kadtest: unknown message code %d", msg.Code)
			}
		}
	}
}

func tableEvent(srv *p2p.Server) map[string]any {
	nodes := []map[string]any{}
	if d := srv.DiscoveryV4(); d != nil {
		for bucket, entries := range d.TableBuckets() {
			for _, bn := range entries {
				nodes = append(nodes, map[string]any{
					"id":     bn.Node.ID().String(),
					"pubkey": pubkeyHex(bn.Node),
					"enode":  bn.Node.URLv4(),
					"enr":    bn.Node.String(),
					"bucket": bucket,
					"live":   bn.Live,
					"checks": bn.Checks,
				})
			}
		}
	}
	return map[string]any{"nodes": nodes}
}

// checkENR decodes and verifies a record and runs it through mainnet's fork-id filter.
func checkENR(arg string, filter forkid.Filter) map[string]any {
	n, err := enode.Parse(enode.ValidSchemes, arg)
	if err != nil {
		return map[string]any{"input": arg, "valid": false, "error": err.Error()}
	}
	result := map[string]any{
		"input":  arg,
		"valid":  true,
		"id":     n.ID().String(),
		"pubkey": pubkeyHex(n),
		"seq":    n.Seq(),
		"ip":     n.IPAddr().String(),
		"udp":    n.UDP(),
		"tcp":    n.TCP(),
		"enode":  n.URLv4(),
	}
	var eth ethEntry
	if err := n.Load(&eth); err != nil {
		result["eth"] = nil
		result["forkFilter"] = "no eth entry: " + err.Error()
		return result
	}
	result["eth"] = map[string]any{"forkHash": hex.EncodeToString(eth.ForkID.Hash[:]), "forkNext": eth.ForkID.Next}
	if err := filter(eth.ForkID); err != nil {
		result["forkFilter"] = err.Error()
	} else {
		result["forkFilter"] = "ok"
	}
	return result
}

func commands(srv *p2p.Server, filter func() forkid.Filter, quit chan<- struct{}) {
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) == 0 {
			continue
		}
		bad := func(err error) {
			emit("error", map[string]any{"source": "command", "cmd": fields[0], "message": err.Error()})
		}
		switch cmd, args := fields[0], fields[1:]; {
		case cmd == "table":
			emit("table", tableEvent(srv))
		case cmd == "peers":
			list := []map[string]any{}
			for _, p := range srv.Peers() {
				list = append(list, map[string]any{"id": p.ID().String(), "name": p.Name(), "caps": capNames(p.Caps()), "inbound": p.Inbound()})
			}
			emit("peers", map[string]any{"peers": list})
		case cmd == "dial" && len(args) == 1:
			n, err := enode.Parse(enode.ValidSchemes, args[0])
			if err != nil {
				bad(err)
				continue
			}
			srv.AddPeer(n)
			emit("dial", map[string]any{"id": n.ID().String()})
		case cmd == "drop" && (len(args) == 1 || len(args) == 2):
			reason := p2p.DiscRequested
			if len(args) == 2 {
				code, err := strconv.ParseUint(args[1], 0, 8)
				if err != nil {
					bad(err)
					continue
				}
				reason = p2p.DiscReason(code)
			}
			found := false
			for _, p := range srv.Peers() {
				if p.ID().String() == args[0] || pubkeyHex(p.Node()) == args[0] {
					p.Disconnect(reason)
					found = true
				}
			}
			if !found {
				bad(errors.New("no such peer"))
			}
		case cmd == "hello" && len(args) >= 2:
			peers.Lock()
			var rw p2p.MsgReadWriter
			for id, w := range peers.rw {
				if id.String() == args[0] {
					rw = w
				}
			}
			peers.Unlock()
			if rw == nil {
				bad(errors.New("no such peer"))
				continue
			}
			if err := p2p.Send(rw, msgHello, strings.Join(args[1:], " ")); err != nil {
				bad(err)
			}
		case cmd == "check-enr" && len(args) == 1:
			emit("enr", checkENR(args[0], filter()))
		case cmd == "exit":
			close(quit)
			return
		default:
			bad(errors.New("unknown command or wrong arguments"))
		}
	}
	// End of input stops the commands only; the node runs until `exit` or a signal.
}

func main() {
	var (
		addr       = flag.String("addr", "127.0.0.1:0", "TCP and UDP listen address (one port for both)")
		bootnodes  = flag.String("bootnodes", "", "comma-separated discv4 bootnodes (enode:// or enr:)")
		static     = flag.String("static", "", "comma-separated static peers to dial and keep")
		nodekeyHex = flag.String("nodekeyhex", "", "node key as 64 hex digits (default: random)")
		maxPeers   = flag.Int("maxpeers", 10, "maximum number of peers")
		noDial     = flag.Bool("nodial", false, "never dial (accept inbound sessions only)")
		noDisc     = flag.Bool("nodiscover", false, "no discv4 (no UDP socket)")
		name       = flag.String("name", "", "client name in the RLPx Hello (default kadpeer/geth-v<version>)")
		greeting   = flag.String("greeting", "hello from kadpeer", "kadtest hello sent when a session starts (empty: none)")
		ethFork    = flag.String("eth-forkid", "", "add an `eth` ENR entry with this fork id: mainnet or <hash hex>:<next>")
		tableEvery = flag.Duration("table-every", 0, "print the discv4 table every interval (0: only on the `table` command)")
		verbosity  = flag.Int("verbosity", 0, "go-ethereum log level on stderr, 0 (none) to 5 (trace)")
	)
	flag.Parse()

	// The server logs through connLog, which reports refused and failed connections as
	// events; go-ethereum's own log lines go to stderr at --verbosity 1..5.
	serverLog := &connLog{}
	if *verbosity > 0 {
		handler := log.NewTerminalHandlerWithLevel(os.Stderr, log.FromLegacyLevel(*verbosity), false)
		log.SetDefault(log.NewLogger(handler))
		serverLog.next = handler
	}
	var key *ecdsa.PrivateKey
	var err error
	if *nodekeyHex != "" {
		key, err = crypto.HexToECDSA(*nodekeyHex)
	} else {
		key, err = crypto.GenerateKey()
	}
	if err != nil {
		fail("bad node key: %v", err)
	}
	if *name == "" {
		*name = fmt.Sprintf("kadpeer/geth-v%d.%d.%d", version.Major, version.Minor, version.Patch)
	}
	// The mainnet fork-id filter (at block 0, as a syncing node applies it) is built on
	// first use: building mainnet's genesis block takes a moment.
	var filterOnce sync.Once
	var filter forkid.Filter
	getFilter := func() forkid.Filter {
		filterOnce.Do(func() {
			filter = forkid.NewStaticFilter(params.MainnetChainConfig, core.DefaultGenesisBlock().ToBlock())
		})
		return filter
	}

	proto := p2p.Protocol{Name: "kadtest", Version: 1, Length: msgCount, Run: runKadtest(*greeting)}
	if *ethFork != "" {
		id, err := parseForkID(*ethFork)
		if err != nil {
			fail("%v", err)
		}
		proto.Attributes = append(proto.Attributes, &ethEntry{ForkID: id})
	}
	srv := &p2p.Server{Config: p2p.Config{
		PrivateKey:     key,
		MaxPeers:       *maxPeers,
		Name:           *name,
		ListenAddr:     *addr,
		NoDiscovery:    *noDisc,
		DiscoveryV4:    !*noDisc,
		BootstrapNodes: parseNodes(*bootnodes),
		StaticNodes:    parseNodes(*static),
		NoDial:         *noDial,
		Protocols:      []p2p.Protocol{proto},
		Logger:         log.NewLogger(serverLog),
	}}
	events := make(chan *p2p.PeerEvent, 64)
	sub := srv.SubscribeEvents(events)
	defer sub.Unsubscribe()
	if err := srv.Start(); err != nil {
		fail("cannot start: %v", err)
	}
	self := srv.Self()
	emit("self", map[string]any{
		"id":     self.ID().String(),
		"pubkey": pubkeyHex(self),
		"enode":  self.URLv4(),
		"enr":    self.String(),
		"name":   *name,
		"tcp":    self.TCP(),
		"udp":    self.UDP(),
	})

	quit := make(chan struct{})
	go commands(srv, getFilter, quit)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	var tick <-chan time.Time
	if *tableEvery > 0 {
		ticker := time.NewTicker(*tableEvery)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case ev := <-events:
			if ev.Type == p2p.PeerEventTypeDrop {
				emit("peer:dropped", map[string]any{"id": ev.Peer.String(), "reason": ev.Error, "remote": ev.RemoteAddress})
			}
		case <-tick:
			emit("table", tableEvent(srv))
		case <-sub.Err():
			return
		case <-signals:
			srv.Stop()
			emit("stopped", nil)
			return
		case <-quit:
			srv.Stop()
			emit("stopped", nil)
			return
		}
	}
}
