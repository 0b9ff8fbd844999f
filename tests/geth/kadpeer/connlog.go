package main

import (
	"context"
	"log/slog"
	"strings"

	"github.com/ethereum/go-ethereum/log"
)

// connFailures are the messages go-ethereum's p2p.Server logs (at trace level, in
// setupConn) when a connection fails or is refused before it becomes a peer; no event
// reports these, so connLog turns them into `conn:failed` events.
var connFailures = map[string]bool{
	"Setting up connection failed":    true,
	"Failed RLPx handshake":           true,
	"Rejected peer":                   true, // its own checks refused it: too many peers, already connected, useless peer, …
	"Failed p2p handshake":            true, // the Hello exchange failed, e.g. the remote sent a Disconnect instead
	"Wrong devp2p handshake identity": true,
}

// connLog is the p2p.Server's log handler: it emits a `conn:failed` event for each record in
// connFailures and passes every record on to next (go-ethereum's stderr handler at
// --verbosity, or nil for none).
type connLog struct {
	attrs []slog.Attr
	next  slog.Handler
}

func (h *connLog) Enabled(ctx context.Context, level slog.Level) bool {
	// Trace records are needed for the events whatever --verbosity says.
	return level >= log.LevelTrace
}

func (h *connLog) Handle(ctx context.Context, r slog.Record) error {
	if connFailures[r.Message] {
		fields := map[string]any{"stage": r.Message}
		take := func(a slog.Attr) bool {
			value := a.Value.Resolve().String()
			switch a.Key {
			case "id":
				fields["id"] = value
			case "addr":
				fields["remote"] = value
			case "err":
				fields["error"] = value
			case "conn":
				// go-ethereum's connection flags, e.g. "inbound", "staticdial", "dyndial".
				fields["conn"] = value
				fields["inbound"] = strings.Contains(value, "inbound")
			}
			return true
		}
		for _, a := range h.attrs {
			take(a)
		}
		r.Attrs(take)
		emit("conn:failed", fields)
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *connLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	var next slog.Handler
	if h.next != nil {
		next = h.next.WithAttrs(attrs)
	}
	return &connLog{attrs: append(append([]slog.Attr{}, h.attrs...), attrs...), next: next}
}

func (h *connLog) WithGroup(name string) slog.Handler {
	var next slog.Handler
	if h.next != nil {
		next = h.next.WithGroup(name)
	}
	return &connLog{attrs: h.attrs, next: next}
}
