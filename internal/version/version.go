// Package version is the one source of Berth's version: `berth version`,
// /api/v2.0/systeminfo and the startup log line all read String. It
// imports nothing of Berth.
package version

import "runtime/debug"

// version is set at build time:
//
//	go build -ldflags "-X github.com/berth-registry/berth/internal/version.version=v1.2.3" ./cmd/berth
//
// The linker writes it; nothing assigns it at run time.
var version string

// String is the version set at build time, else the module version `go
// install` recorded, else "dev".
func String() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
