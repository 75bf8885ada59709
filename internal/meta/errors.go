package meta

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// wrapErr adds context to err and, when err means the database could not
// be reached or did not answer in time, makes it match ErrUnavailable too.
func wrapErr(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if unavailable(err) && !errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%s: %w: %w", msg, ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// unavailable reports whether err is an outage rather than a problem with
// the request: connection refused or lost, timeouts (including waiting for
// a pooled connection until the deadline), a server shutting down or out of
// connections, SQLite busy beyond busy_timeout or unable to open its file.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.Timeout(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 {
		switch pgErr.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources (too many connections, disk full, ...)
			"57": // operator intervention: shutdown, cannot connect now
			return pgErr.Code != "57014" // 57014 is query_canceled
		}
		return false
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() & 0xff { // primary result code
		case 5, // SQLITE_BUSY
			6,  // SQLITE_LOCKED
			10, // SQLITE_IOERR
			13, // SQLITE_FULL
			14: // SQLITE_CANTOPEN
			return true
		}
	}
	return false
}
