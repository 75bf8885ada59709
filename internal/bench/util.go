package bench

import (
	"encoding/base64"
	"runtime"
)

func base64Encode(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func numCPU() int { return runtime.NumCPU() }
