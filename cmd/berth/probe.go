package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// probe checks a running Berth from outside, for `helm test` and container
// health checks (the image has no shell and no curl): /livez and /readyz
// answer 200, and /v2/ asks for credentials with a Bearer challenge, as a
// registry client expects. It prints one line per check and fails on the
// first that does not pass.
func probe(ctx context.Context, base string, stdout io.Writer) error {
	base = strings.TrimRight(base, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return fmt.Errorf("probe: want http(s)://host[:port], got %q", base)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	checks := []struct {
		path string
		ok   func(*http.Response) error
	}{
		{"/livez", wantStatus(http.StatusOK)},
		{"/readyz", wantStatus(http.StatusOK)},
		{"/v2/", func(r *http.Response) error {
			if err := wantStatus(http.StatusUnauthorized)(r); err != nil {
				return err
			}
			if ch := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer realm=") {
				return fmt.Errorf("challenge %q, want a Bearer realm", ch)
			}
			return nil
		}},
	}
	for _, c := range checks {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+c.path, nil)
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("probe %s: %w", c.path, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err := c.ok(resp); err != nil {
			return fmt.Errorf("probe %s: %w", c.path, err)
		}
		fmt.Fprintf(stdout, "ok %s %s\n", c.path, resp.Status)
	}
	return nil
}

func wantStatus(code int) func(*http.Response) error {
	return func(r *http.Response) error {
		if r.StatusCode != code {
			return fmt.Errorf("status %s, want %d", r.Status, code)
		}
		return nil
	}
}
