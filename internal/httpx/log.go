package httpx

import (
	"context"
	"log/slog"
)

// LogHandler wraps h so that every record logged with a request's context
// (the ...Context methods of slog.Logger) carries that request's
// request_id, whichever package logs it: an operator can always match an
// error line to the access log line and the ID the client saw. A record
// that already has a request_id is left alone.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(*requestIDHandler); ok {
		return h
	}
	return &requestIDHandler{h: h}
}

type requestIDHandler struct{ h slog.Handler }

func (l *requestIDHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" && !hasAttr(r, keyRequestID) {
		r = r.Clone()
		r.AddAttrs(slog.String(keyRequestID, id))
	}
	return l.h.Handle(ctx, r)
}

func (l *requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &requestIDHandler{h: l.h.WithAttrs(as)}
}

func (l *requestIDHandler) WithGroup(name string) slog.Handler {
	return &requestIDHandler{h: l.h.WithGroup(name)}
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
