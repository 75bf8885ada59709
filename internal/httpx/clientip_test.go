package httpx

import (
	"net/http"
	"testing"
)

func TestClientIP(t *testing.T) {
	ip, err := ClientIP([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"direct client cannot forge", "203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5"},
		{"through a trusted proxy", "10.1.2.3:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"forged entries left of the real one are ignored", "10.1.2.3:80", []string{"1.2.3.4, 198.51.100.9"}, "198.51.100.9"},
		{"two trusted hops", "192.0.2.7:80", []string{"198.51.100.9", "10.9.9.9"}, "198.51.100.9"},
		{"all hops trusted", "10.1.2.3:80", []string{"10.2.2.2"}, "10.2.2.2"},
		{"garbage stops the walk", "10.1.2.3:80", []string{"198.51.100.9, junk"}, "10.1.2.3"},
		{"trusted proxy without header", "10.1.2.3:80", nil, "10.1.2.3"},
		{"ipv4-mapped peer", "[::ffff:10.1.2.3]:80", []string{"198.51.100.9"}, "198.51.100.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ip(r); got != tt.want {
				t.Errorf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := ClientIP([]string{"lb.example"}); err == nil {
		t.Error("ClientIP accepted a host name")
	}
}
