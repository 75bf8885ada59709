package backup

import (
	"bytes"
	"strings"
	"testing"
)

func TestBar(t *testing.T) {
	var out bytes.Buffer
	p := Bar(&out, "backup")
	p.Start(2, 3<<20)
	p.Bytes(1 << 20)
	p.Blob(1<<20, true)
	p.Blob(2<<20, false)
	p.Done()
	last := out.String()[strings.LastIndex(out.String(), "\r"):]
	for _, want := range []string{"backup [", "100%", "3.0 MiB/3.0 MiB", "2/2 blobs", "/s", "ETA", "\n"} {
		if !strings.Contains(last, want) {
			t.Errorf("the final bar %q lacks %q", last, want)
		}
	}
}

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 30: "3.0 GiB"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}
