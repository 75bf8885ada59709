package identity

import (
	"runtime/debug"
	"sync"

	"github.com/alexedwards/argon2id"
)

// An argon2id hash allocates its whole memory cost (19 MiB by default) at
// once and drops it when it returns. Left to the collector, that block
// raises the heap goal (the next collection waits for about twice the
// heap it found, hash included), and the process keeps some 40 MiB it no
// longer uses until the background scavenger hands it back minutes later.
// Logins are rare (verified credentials are cached), so the first hash of a
// burst starts from a collected heap (the garbage of the requests before it
// is handed back first, so the hash's block does not come on top of it),
// and after the last hash under way finishes, one more collection returns
// the block to the system at once. A burst of logins costs two collections.
var hashHeap heapRelease

type heapRelease struct {
	mu      sync.Mutex
	running int
	pending bool
	release func() // debug.FreeOSMemory; tests count calls
}

func (h *heapRelease) begin() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running++
	if h.running == 1 && !h.pending {
		h.releaser()()
	}
}

func (h *heapRelease) releaser() func() {
	if h.release == nil {
		return debug.FreeOSMemory
	}
	return h.release
}

func (h *heapRelease) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running--
	if h.running > 0 || h.pending {
		return
	}
	h.pending = true
	release := h.releaser()
	go func() {
		release()
		h.mu.Lock()
		h.pending = false
		h.mu.Unlock()
	}()
}

// compareHash is argon2id.ComparePasswordAndHash, its memory released after.
func compareHash(password, hash string) (bool, error) {
	hashHeap.begin()
	defer hashHeap.end()
	return argon2id.ComparePasswordAndHash(password, hash)
}

// createHash is argon2id.CreateHash, its memory released after.
func createHash(password string, p *argon2id.Params) (string, error) {
	hashHeap.begin()
	defer hashHeap.end()
	return argon2id.CreateHash(password, p)
}
