package backup

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// FormatName and FormatVersion identify the snapshot format; a reader
// refuses a manifest of another name or of a newer version.
const (
	FormatName    = "berth-backup"
	FormatVersion = 1
)

// Keys in a backup repository.
const (
	snapshotsPrefix = "snapshots/"
	blobsPrefix     = "blobs/"
	manifestFile    = "manifest.json"
)

// Manifest describes one snapshot; it is written last, so a snapshot
// without one is incomplete and ignored.
type Manifest struct {
	Format       string    `json:"format"`
	Version      int       `json:"version"`
	ID           string    `json:"id"`
	CreatedAt    time.Time `json:"created_at"`  // the read point (start of the read transaction)
	FinishedAt   time.Time `json:"finished_at"` // when the manifest was written
	BerthVersion string    `json:"berth_version"`
	Source       Source    `json:"source"`
	Counts       Counts    `json:"counts"`
	// Tables in restore order (a table after those it refers to).
	Tables []Table `json:"tables"`
	// Blobs whose objects the snapshot holds.
	Blobs []BlobRef `json:"blobs"`
	// Collected lists blobs that no manifest of the snapshot referenced,
	// whose object garbage collection deleted while the backup ran: a
	// restore marks their rows as being deleted, as they were in the
	// source by the time the backup finished.
	Collected []digest.Digest `json:"collected,omitempty"`
}

// Source describes the database a snapshot was read from.
type Source struct {
	Dialect       string `json:"dialect"`        // "sqlite" or "postgres"
	SchemaVersion int64  `json:"schema_version"` // the last applied migration
}

// Counts are the snapshot's figures.
type Counts struct {
	Repositories int64 `json:"repositories"`
	Manifests    int64 `json:"manifests"`
	Tags         int64 `json:"tags"`
	Users        int64 `json:"users"`
	Robots       int64 `json:"robots"`
	Projects     int64 `json:"projects"`
	Blobs        int64 `json:"blobs"`
	BlobBytes    int64 `json:"blob_bytes"`
}

// Table is one table's file in a snapshot.
type Table struct {
	Name    string   `json:"name"`
	File    string   `json:"file"` // key relative to the snapshot, tables/NAME.jsonl.gz
	Rows    int64    `json:"rows"`
	Columns []Column `json:"columns"`
}

// Column is a column of a table file: each line of the file is a JSON
// array with one value per column, encoded by Kind.
type Column struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
}

// BlobRef is a blob the snapshot holds.
type BlobRef struct {
	Digest digest.Digest `json:"digest"`
	Size   int64         `json:"size"`
}

// Kind is a column's portable type. Values are JSON null or:
//
//	int    a JSON number (64-bit integer)
//	bool   true or false
//	real   a JSON number
//	text   a string
//	time   a string, RFC 3339 in UTC with up to nanoseconds
//	bytes  a string, standard base64
type Kind string

// The kinds.
const (
	KindInt   Kind = "int"
	KindBool  Kind = "bool"
	KindReal  Kind = "real"
	KindText  Kind = "text"
	KindTime  Kind = "time"
	KindBytes Kind = "bytes"
)

func snapshotKey(id, name string) string { return snapshotsPrefix + id + "/" + name }

// blobKey is where a blob lives, in a backup repository and where a restore
// puts it in the target storage: blobs/<algorithm>/<first two hex>/<hex>,
// the layout of Berth's content-addressed keys.
func blobKey(d digest.Digest) string {
	hex := d.Encoded()
	return blobsPrefix + string(d.Algorithm()) + "/" + hex[:2] + "/" + hex
}

// validID accepts snapshot ids as Backup makes them (and nothing that could
// escape the snapshots/ prefix).
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') || id == "." || id == ".." {
			return false
		}
	}
	return true
}

// sqliteTimeLayouts are the text forms SQLite may hand back for a time.
var sqliteTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

func parseTime(s string) (time.Time, error) {
	for _, l := range sqliteTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", s)
}

// encodeValue turns a value scanned from the source database into its
// portable JSON form for a column of kind k.
func encodeValue(v any, k Kind) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case []byte:
		if k == KindBytes {
			return base64.StdEncoding.EncodeToString(x), nil
		}
		return encodeValue(string(x), k)
	case string:
		switch k {
		case KindTime:
			t, err := parseTime(x)
			if err != nil {
				return nil, err
			}
			return t.Format(time.RFC3339Nano), nil
		case KindBytes:
			return base64.StdEncoding.EncodeToString([]byte(x)), nil
		}
		return x, nil
	case int64, int32, int, float64, float32, bool:
		return x, nil
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

var errConvert = errors.New("cannot convert")

// decodeValue turns a portable value (decoded with json.Number) written
// for a column of kind from into a parameter for a column of kind to.
func decodeValue(v any, from, to Kind) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch to {
	case KindInt:
		switch x := v.(type) {
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return i, nil
			}
			f, err := x.Float64()
			return int64(f), err
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			return strconv.ParseInt(x, 10, 64)
		}
	case KindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case json.Number:
			return x.String() != "0", nil
		case string:
			return strconv.ParseBool(x)
		}
	case KindReal:
		switch x := v.(type) {
		case json.Number:
			return x.Float64()
		case string:
			return strconv.ParseFloat(x, 64)
		}
	case KindText:
		switch x := v.(type) {
		case string:
			if from == KindBytes {
				b, err := base64.StdEncoding.DecodeString(x)
				return string(b), err
			}
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		}
	case KindTime:
		if x, ok := v.(string); ok {
			t, err := parseTime(x)
			return t.Truncate(time.Microsecond), err
		}
	case KindBytes:
		if x, ok := v.(string); ok {
			if from == KindBytes {
				return base64.StdEncoding.DecodeString(x)
			}
			return []byte(x), nil
		}
	}
	return nil, fmt.Errorf("%w %T to %s", errConvert, v, to)
}

// kindOf maps a column's declared type to its kind.
func kindOf(declared string) Kind {
	t := strings.ToLower(strings.TrimSpace(declared))
	switch {
	case t == "boolean" || t == "bool":
		return KindBool
	case strings.Contains(t, "int"):
		return KindInt
	case strings.HasPrefix(t, "timestamp") || strings.HasPrefix(t, "datetime") || t == "date":
		return KindTime
	case t == "bytea" || t == "blob" || t == "":
		return KindBytes
	case strings.Contains(t, "real") || strings.Contains(t, "double") || strings.Contains(t, "float") || strings.HasPrefix(t, "numeric") || strings.HasPrefix(t, "decimal"):
		return KindReal
	}
	return KindText
}
