package s3_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/s3"
)

// TestDeleteMany: on SeaweedFS, DeleteMany removes committed objects and
// pending writes (multipart uploads included) in batches, ignores missing
// keys and leaves the others.
func TestDeleteMany(t *testing.T) {
	c := testConfig(t)
	d := mustNew(t, c)
	ctx := t.Context()
	put := func(key string, commit bool, n int) {
		t.Helper()
		w, err := d.Writer(ctx, key, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(bytes.Repeat([]byte{'x'}, n)); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = w.Commit(ctx)
		} else {
			err = w.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for i := range 1200 { // more than one DeleteObjects request
		keys = append(keys, fmt.Sprintf("blobs/%04d", i))
	}
	for _, k := range keys[:40] {
		put(k, true, 10)
	}
	put("blobs/pending", false, 6<<20) // a multipart upload
	put("keep", true, 3)
	if err := d.DeleteMany(ctx, append(keys, "blobs/pending", "never/there")); err != nil {
		t.Fatal(err)
	}
	for _, k := range append(keys[:40:40], "blobs/pending") {
		if _, err := d.Stat(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat(%s) after DeleteMany: %v, want ErrNotFound", k, err)
		}
	}
	if _, err := d.Writer(ctx, "blobs/pending", 6<<20); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("resuming a deleted pending write: %v, want ErrNotFound", err)
	}
	if _, err := d.Stat(ctx, "keep"); err != nil {
		t.Errorf("Stat(keep) = %v", err)
	}
	uploads, err := rawClient(t, c).ListMultipartUploads(ctx, listUploads(c))
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("%d multipart uploads left", len(uploads.Uploads))
	}
}

func listUploads(c s3.Config) *awss3.ListMultipartUploadsInput {
	root := strings.Trim(c.RootDirectory, "/") + "/"
	return &awss3.ListMultipartUploadsInput{Bucket: &c.Bucket, Prefix: &root}
}
