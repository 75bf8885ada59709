// Package s3 is the storage driver for Amazon S3 and S3-compatible object
// stores (MinIO, Ceph RGW, SeaweedFS). It owns the object layout in the
// bucket and the multipart-upload bookkeeping of pending writes, and
// nothing else: it knows no digests, repositories or HTTP handlers. It
// imports the standard library, the AWS SDK and internal/storage only.
//
// Layout under the bucket's RootDirectory:
//
//	<key>                         committed objects
//	.pending/<sha256(key)>.head   state of the pending write of key
//	.pending/<sha256(key)>.prev   state at the Close before (rewind point)
//
// A pending write is a multipart upload on <key> itself, so Commit
// completes it in place without a copy. Its state object records how many
// bytes the write holds, how many uploaded parts belong to it and the
// upload's id; its body is the tail written since the last part (always
// less than 5 MiB, S3's minimum part size), which the next Writer reads
// back and folds into its next part. Nothing lives in a Driver's memory
// between calls, so any Driver on the same bucket (another replica) can
// resume a write, and nothing is derived from prefix listings: state is
// read by exact key, and orphaned multipart uploads are found by
// ListMultipartUploads on the exact key. A Writer holds at most ChunkSize
// bytes in memory.
//
// The first key segment ".pending" is reserved. Move is a server-side copy
// (multipart above MultipartCopyThreshold) followed by a delete, so the
// driver does not implement storage.Renamer.
package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/berth-registry/berth/internal/storage"
)

// Interface guards.
var (
	_ storage.Driver     = (*Driver)(nil)
	_ storage.Redirector = (*Driver)(nil)
	_ storage.Writer     = (*writer)(nil)
)

const (
	pendingDir = ".pending"
	// opTimeout bounds each S3 call made by Writer methods that take no
	// context (Write, Close): one part upload or one small object.
	opTimeout = 10 * time.Minute
	// copyConcurrency is the number of parts a multipart copy copies at once.
	copyConcurrency = 4
)

// Metadata keys of pending-write state objects.
const (
	metaKey    = "berth-key"
	metaSize   = "berth-size"
	metaParts  = "berth-parts"
	metaUpload = "berth-upload"
)

// errWriterClosed is returned by a Writer used after Close, Commit or Cancel.
var errWriterClosed = errors.New("s3: writer is closed")

// unsignedPayload signs an upload's headers but not its body, so the SDK
// does not read every part once more to hash it before sending it (about
// a quarter of a push's CPU in Berth, and the store's check of that hash).
// The SDK does the same by default over https, where TLS protects the
// body; over plain http the body goes unprotected, as every object read
// back over that connection already does. The content layer verifies each
// blob's digest as it streams in.
var unsignedPayload = awss3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// Driver stores objects in one S3 bucket. It is safe for concurrent use.
type Driver struct {
	client       *awss3.Client
	presign      *awss3.PresignClient
	bucket       string
	prefix       string // "" or "root/dir/"
	chunkSize    int64
	copyPart     int64
	storageClass types.StorageClass
	sse          types.ServerSideEncryption
	kmsKeyID     *string
	redirect     bool
}

// New returns a driver for c. It does not contact the store: use Check for
// that at startup.
func New(ctx context.Context, c Config) (*Driver, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	endpoint, _ := c.endpoint() // checked by Validate
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(newHTTPClient(c))}
	ca, err := caBundleOption(os.Getenv("AWS_CA_BUNDLE"))
	if err != nil {
		return nil, fmt.Errorf("s3 storage: %w", err)
	}
	if ca != nil {
		opts = append(opts, ca)
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 storage: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		if endpoint == "" {
			return nil, errors.New("s3 storage: region is required (or AWS_REGION, or a regionendpoint)")
		}
		cfg.Region = "us-east-1"
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		o.UsePathStyle = c.ForcePathStyle
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			// S3-compatible stores vary in their support of the SDK's
			// default trailing checksums; send and check them only when
			// an operation requires them.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		} else if !c.Secure {
			o.EndpointOptions.DisableHTTPS = true
		}
	})
	d := &Driver{
		client:    client,
		presign:   awss3.NewPresignClient(client),
		bucket:    c.Bucket,
		prefix:    c.prefix(),
		chunkSize: c.ChunkSize,
		copyPart:  c.MultipartCopyThreshold,
		redirect:  !c.DisableRedirect,
	}
	if c.StorageClass != "" && !strings.EqualFold(c.StorageClass, "NONE") {
		d.storageClass = types.StorageClass(c.StorageClass)
	}
	if c.Encrypt {
		d.sse = types.ServerSideEncryptionAes256
		if c.KeyID != "" {
			d.sse = types.ServerSideEncryptionAwsKms
			d.kmsKeyID = aws.String(c.KeyID)
		}
	}
	return d, nil
}

// newHTTPClient returns the SDK's buildable client (the only kind to
// which the SDK can add a CA bundle) with the system roots, which honour
// SSL_CERT_FILE and SSL_CERT_DIR, and bounded dial and header timeouts.
func newHTTPClient(c Config) *awshttp.BuildableClient {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = 10 * time.Second }).
		WithTransportOptions(func(tr *http.Transport) {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			tr.TLSClientConfig.RootCAs = pool
			tr.TLSClientConfig.InsecureSkipVerify = c.SkipVerify // skipverify: the user asked for it
			tr.MaxIdleConnsPerHost = 64
			tr.ResponseHeaderTimeout = 2 * time.Minute
		})
}

// caBundleOption decides what happens to AWS_CA_BUNDLE, which the SDK
// would otherwise read itself and fail on when it is unreadable. A
// readable bundle is added to the system roots; an unreadable or empty one
// is ignored (the system roots stay), by handing the SDK a system bundle
// file instead, which adds nothing new.
func caBundleOption(path string) (func(*config.LoadOptions) error, error) {
	if path == "" {
		return nil, nil
	}
	if b, err := os.ReadFile(path); err == nil && x509.NewCertPool().AppendCertsFromPEM(b) {
		return config.WithCustomCABundle(bytes.NewReader(b)), nil
	}
	for _, f := range []string{
		os.Getenv("SSL_CERT_FILE"),
		"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
		"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
		"/etc/ssl/cert.pem",                  // macOS, BSD
	} {
		if f == "" {
			continue
		}
		if b, err := os.ReadFile(f); err == nil && x509.NewCertPool().AppendCertsFromPEM(b) {
			return config.WithCustomCABundle(bytes.NewReader(b)), nil
		}
	}
	return nil, fmt.Errorf("AWS_CA_BUNDLE=%s is not a readable PEM file; unset it or fix it", path)
}

// Check contacts the bucket and turns the classic misconfigurations into
// plain messages: unreachable endpoint, https against plain HTTP, missing
// bucket, wrong keys, an endpoint that is not an S3 API.
func (d *Driver) Check(ctx context.Context) error {
	_, err := d.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &d.bucket})
	if err == nil {
		return nil
	}
	var (
		re    *awshttp.ResponseError
		netOp *net.OpError
	)
	switch {
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("s3 storage: the endpoint speaks plain HTTP: use http:// in regionendpoint or secure: false: %w", err)
	case errors.As(err, &netOp):
		return fmt.Errorf("s3 storage: cannot reach the endpoint (check regionendpoint and that it is the S3 API port): %w", err)
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound:
		return fmt.Errorf("s3 storage: bucket %q does not exist (or regionendpoint is not the S3 API port): %w", d.bucket, err)
	case errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusForbidden || re.HTTPStatusCode() == http.StatusUnauthorized):
		return fmt.Errorf("s3 storage: access to bucket %q denied: check accesskey/secretkey and the bucket policy: %w", d.bucket, err)
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusMovedPermanently:
		return fmt.Errorf("s3 storage: bucket %q is in another region: check region: %w", d.bucket, err)
	case errors.As(err, &re):
		return fmt.Errorf("s3 storage: bucket %q: unexpected HTTP %d (is regionendpoint the S3 API port, not a web console?): %w",
			d.bucket, re.HTTPStatusCode(), err)
	}
	return fmt.Errorf("s3 storage: bucket %q: %w", d.bucket, err)
}

// checkKey reports storage.ErrInvalidKey for keys that are empty,
// absolute, contain backslashes, NUL, empty, "." or ".." segments, or start
// with the reserved pending directory.
func checkKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q", storage.ErrInvalidKey, key)
		}
	}
	if key == pendingDir || strings.HasPrefix(key, pendingDir+"/") {
		return fmt.Errorf("%w: %q (reserved)", storage.ErrInvalidKey, key)
	}
	return nil
}

func (d *Driver) objectKey(key string) string { return d.prefix + key }

func (d *Driver) stateKey(key, which string) string {
	sum := sha256.Sum256([]byte(key))
	return d.prefix + pendingDir + "/" + hex.EncodeToString(sum[:]) + "." + which
}

// copySource is the URL-encoded "bucket/key" CopyObject and UploadPartCopy
// take.
func (d *Driver) copySource(objectKey string) *string {
	segs := strings.Split(objectKey, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(s), "+", "%2B")
	}
	return aws.String(d.bucket + "/" + strings.Join(segs, "/"))
}

// isNotFound reports a missing object or upload (not a missing bucket,
// which is a misconfiguration).
func isNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchUpload":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func isInvalidRange(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "InvalidRange" {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusRequestedRangeNotSatisfiable
}

// Reader implements storage.Driver.
func (d *Driver) Reader(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("read %q at %d: %w", key, offset, storage.ErrInvalidOffset)
	}
	in := &awss3.GetObjectInput{Bucket: &d.bucket, Key: aws.String(d.objectKey(key))}
	if offset > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	out, err := d.client.GetObject(ctx, in)
	switch {
	case err == nil && (offset == 0 || out.ContentRange != nil):
		return out.Body, nil
	case err == nil:
		// The store ignored the range: skip to offset ourselves.
		out.Body.Close()
	case isNotFound(err):
		return nil, fmt.Errorf("read %q: %w", key, storage.ErrNotFound)
	case !isInvalidRange(err):
		return nil, fmt.Errorf("read %q: %w", key, err)
	}
	// Offset at or past the end (S3 refuses a range starting at the size).
	info, err := d.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	switch {
	case offset == info.Size:
		return io.NopCloser(strings.NewReader("")), nil
	case offset > info.Size:
		return nil, fmt.Errorf("read %q at %d of %d bytes: %w", key, offset, info.Size, storage.ErrInvalidOffset)
	}
	out, err = d.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &d.bucket, Key: aws.String(d.objectKey(key))})
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", key, err)
	}
	if _, err := io.CopyN(io.Discard, out.Body, offset); err != nil {
		out.Body.Close()
		return nil, fmt.Errorf("read %q: skip to %d: %w", key, offset, err)
	}
	return out.Body, nil
}

// Stat implements storage.Driver.
func (d *Driver) Stat(ctx context.Context, key string) (storage.Info, error) {
	if err := checkKey(key); err != nil {
		return storage.Info{}, err
	}
	out, err := d.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &d.bucket, Key: aws.String(d.objectKey(key))})
	if err != nil {
		if isNotFound(err) {
			return storage.Info{}, fmt.Errorf("stat %q: %w", key, storage.ErrNotFound)
		}
		return storage.Info{}, fmt.Errorf("stat %q: %w", key, err)
	}
	return storage.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Move implements storage.Driver: a server-side copy, then a delete of
// from. Readers of to see the old or the new object, never a mix.
func (d *Driver) Move(ctx context.Context, from, to string) error {
	if err := checkKey(from); err != nil {
		return err
	}
	if err := checkKey(to); err != nil {
		return err
	}
	info, err := d.Stat(ctx, from)
	if err != nil {
		return fmt.Errorf("move: %w", err)
	}
	if from == to {
		return nil
	}
	if info.Size <= d.copyPart {
		_, err = d.client.CopyObject(ctx, &awss3.CopyObjectInput{
			Bucket:               &d.bucket,
			Key:                  aws.String(d.objectKey(to)),
			CopySource:           d.copySource(d.objectKey(from)),
			StorageClass:         d.storageClass,
			ServerSideEncryption: d.sse,
			SSEKMSKeyId:          d.kmsKeyID,
		})
	} else {
		err = d.multipartCopy(ctx, d.objectKey(from), d.objectKey(to), info.Size)
	}
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("move %q: %w", from, storage.ErrNotFound)
		}
		return fmt.Errorf("move %q to %q: %w", from, to, err)
	}
	if _, err := d.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &d.bucket, Key: aws.String(d.objectKey(from))}); err != nil {
		return fmt.Errorf("move %q to %q: delete source: %w", from, to, err)
	}
	return nil
}

// multipartCopy copies src to dst in parts of at least copyPart bytes,
// copyConcurrency at a time.
func (d *Driver) multipartCopy(ctx context.Context, src, dst string, size int64) error {
	partSize := d.copyPart
	for (size+partSize-1)/partSize > maxParts {
		partSize *= 2
	}
	created, err := d.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
		Bucket:               &d.bucket,
		Key:                  &dst,
		StorageClass:         d.storageClass,
		ServerSideEncryption: d.sse,
		SSEKMSKeyId:          d.kmsKeyID,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, n)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		sem      = make(chan struct{}, copyConcurrency)
	)
	for i := range n {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			first := int64(i) * partSize
			last := min(first+partSize, size) - 1
			out, err := d.client.UploadPartCopy(ctx, &awss3.UploadPartCopyInput{
				Bucket:          &d.bucket,
				Key:             &dst,
				UploadId:        created.UploadId,
				PartNumber:      aws.Int32(int32(i + 1)),
				CopySource:      d.copySource(src),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
			})
			if err != nil {
				once.Do(func() { firstErr = err; cancel() })
				return
			}
			parts[i] = types.CompletedPart{ETag: out.CopyPartResult.ETag, PartNumber: aws.Int32(int32(i + 1))}
		})
	}
	wg.Wait()
	if firstErr == nil {
		_, firstErr = d.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
			Bucket:          &d.bucket,
			Key:             &dst,
			UploadId:        created.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		})
	}
	if firstErr != nil {
		d.abort(context.WithoutCancel(ctx), dst, aws.ToString(created.UploadId))
		return fmt.Errorf("multipart copy: %w", firstErr)
	}
	return nil
}

// Delete implements storage.Driver: the committed object, the pending
// write's state and its multipart uploads.
func (d *Driver) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := d.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &d.bucket, Key: aws.String(d.objectKey(key))}); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	if err := d.dropPending(ctx, key); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// Walk implements storage.Driver with ListObjectsV2, whose order is the
// lexical key order, skipping the pending area and folder markers.
func (d *Driver) Walk(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	pending := d.prefix + pendingDir + "/"
	p := awss3.NewListObjectsV2Paginator(d.client, &awss3.ListObjectsV2Input{
		Bucket: &d.bucket,
		Prefix: aws.String(d.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("walk %q: %w", prefix, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			if strings.HasPrefix(k, pending) || strings.HasSuffix(k, "/") {
				continue
			}
			info := storage.Info{
				Key:     strings.TrimPrefix(k, d.prefix),
				Size:    aws.ToInt64(o.Size),
				ModTime: aws.ToTime(o.LastModified),
			}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// RedirectURL implements storage.Redirector with a presigned GET, unless
// DisableRedirect is set: then it fails with errors.ErrUnsupported.
func (d *Driver) RedirectURL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if !d.redirect {
		return "", fmt.Errorf("s3: redirects are disabled (disableredirect): %w", errors.ErrUnsupported)
	}
	req, err := d.presign.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: &d.bucket, Key: aws.String(d.objectKey(key))},
		awss3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign %q: %w", key, err)
	}
	return req.URL, nil
}

// Writer implements storage.Driver.
func (d *Driver) Writer(ctx context.Context, key string, offset int64) (storage.Writer, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("write %q at %d: %w", key, offset, storage.ErrInvalidOffset)
	}
	if offset == 0 {
		if err := d.dropPending(ctx, key); err != nil {
			return nil, fmt.Errorf("write %q: discard earlier pending write: %w", key, err)
		}
		return &writer{ctx: ctx, d: d, key: key, base: -1}, nil
	}
	st, err := d.getState(ctx, key, "head")
	if err != nil {
		return nil, fmt.Errorf("resume %q: %w", key, err)
	}
	tailStart := st.size - int64(len(st.tail))
	var persist func() error
	switch {
	case offset > st.size:
		return nil, fmt.Errorf("resume %q at %d, pending write holds %d bytes: %w", key, offset, st.size, storage.ErrInvalidOffset)
	case offset == st.size:
	case offset >= tailStart:
		// Within the tail: keep a prefix of it.
		st.tail = st.tail[:offset-tailStart]
		st.size = offset
		persist = func() error { return d.putState(ctx, key, "head", st) }
	default:
		// Below the uploaded parts: only the previous Close can be
		// returned to.
		prev, err := d.getState(ctx, key, "prev")
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("resume %q: %w", key, err)
		}
		if err != nil || prev.size != offset {
			return nil, fmt.Errorf("resume %q at %d: pending write holds %d bytes, of which %d in uploaded parts, "+
				"and was not closed at %d before: %w", key, offset, st.size, tailStart, offset, storage.ErrInvalidOffset)
		}
		st = prev
		persist = func() error { return d.copyState(ctx, key, "prev", "head") }
	}
	w := &writer{ctx: ctx, d: d, key: key, upload: st.upload, size: st.size, base: st.size}
	if st.parts > 0 {
		w.parts, err = d.listParts(ctx, key, st.upload, st.parts, st.size-int64(len(st.tail)))
		if err != nil {
			return nil, fmt.Errorf("resume %q: %w", key, err)
		}
	}
	if persist != nil {
		if err := persist(); err != nil {
			return nil, fmt.Errorf("resume %q: %w", key, err)
		}
	}
	w.buf = w.grow(st.tail, 0)
	return w, nil
}

// state is what a pending-write state object holds.
type state struct {
	size   int64  // bytes the pending write holds
	parts  int32  // uploaded parts that belong to it: 1..parts
	upload string // multipart upload id; "" before the first part
	tail   []byte // the bytes after the parts (< 5 MiB)
}

func (d *Driver) getState(ctx context.Context, key, which string) (state, error) {
	out, err := d.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &d.bucket, Key: aws.String(d.stateKey(key, which))})
	if err != nil {
		if isNotFound(err) {
			return state{}, fmt.Errorf("pending write: %w", storage.ErrNotFound)
		}
		return state{}, fmt.Errorf("read pending state: %w", err)
	}
	defer out.Body.Close()
	tail, err := io.ReadAll(io.LimitReader(out.Body, d.chunkSize+1))
	if err != nil {
		return state{}, fmt.Errorf("read pending state: %w", err)
	}
	st := state{tail: tail, upload: out.Metadata[metaUpload]}
	size, err1 := strconv.ParseInt(out.Metadata[metaSize], 10, 64)
	parts, err2 := strconv.ParseInt(out.Metadata[metaParts], 10, 32)
	st.size, st.parts = size, int32(parts)
	if err := errors.Join(err1, err2); err != nil || int64(len(tail)) > d.chunkSize || int64(len(tail)) > size ||
		(parts > 0) != (st.upload != "") || out.Metadata[metaKey] != key {
		return state{}, fmt.Errorf("pending state of %q is corrupt (%v, metadata %v)", key, err, out.Metadata)
	}
	return st, nil
}

func (d *Driver) putState(ctx context.Context, key, which string, st state) error {
	meta := map[string]string{
		metaKey:   key,
		metaSize:  strconv.FormatInt(st.size, 10),
		metaParts: strconv.FormatInt(int64(st.parts), 10),
	}
	if st.upload != "" {
		meta[metaUpload] = st.upload
	}
	_, err := d.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:               &d.bucket,
		Key:                  aws.String(d.stateKey(key, which)),
		Body:                 bytes.NewReader(st.tail),
		ContentLength:        aws.Int64(int64(len(st.tail))),
		Metadata:             meta,
		StorageClass:         d.storageClass,
		ServerSideEncryption: d.sse,
		SSEKMSKeyId:          d.kmsKeyID,
	}, unsignedPayload)
	if err != nil {
		return fmt.Errorf("save pending state: %w", err)
	}
	return nil
}

// copyState copies one state object over another on the server.
func (d *Driver) copyState(ctx context.Context, key, from, to string) error {
	_, err := d.client.CopyObject(ctx, &awss3.CopyObjectInput{
		Bucket:               &d.bucket,
		Key:                  aws.String(d.stateKey(key, to)),
		CopySource:           d.copySource(d.stateKey(key, from)),
		MetadataDirective:    types.MetadataDirectiveCopy,
		StorageClass:         d.storageClass,
		ServerSideEncryption: d.sse,
		SSEKMSKeyId:          d.kmsKeyID,
	})
	if err != nil {
		if isNotFound(err) {
			return fmt.Errorf("copy pending state: %w", storage.ErrNotFound)
		}
		return fmt.Errorf("copy pending state: %w", err)
	}
	return nil
}

// listParts returns parts 1..n of the upload and checks that they hold
// want bytes. A missing upload is storage.ErrNotFound.
func (d *Driver) listParts(ctx context.Context, key, upload string, n int32, want int64) ([]part, error) {
	byNumber := make(map[int32]part, n)
	p := awss3.NewListPartsPaginator(d.client, &awss3.ListPartsInput{
		Bucket:   &d.bucket,
		Key:      aws.String(d.objectKey(key)),
		UploadId: &upload,
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if isNotFound(err) {
				return nil, fmt.Errorf("multipart upload: %w", storage.ErrNotFound)
			}
			return nil, fmt.Errorf("list parts: %w", err)
		}
		for _, pt := range page.Parts {
			num := aws.ToInt32(pt.PartNumber)
			if num >= 1 && num <= n {
				byNumber[num] = part{etag: aws.ToString(pt.ETag), size: aws.ToInt64(pt.Size)}
			}
		}
	}
	parts := make([]part, n)
	var total int64
	for i := range n {
		pt, ok := byNumber[i+1]
		if !ok {
			return nil, fmt.Errorf("multipart upload of %q lacks part %d: %w", key, i+1, storage.ErrNotFound)
		}
		parts[i] = pt
		total += pt.size
	}
	if total != want {
		return nil, fmt.Errorf("multipart upload of %q: parts 1..%d hold %d bytes, state says %d", key, n, total, want)
	}
	return parts, nil
}

// dropPending aborts every multipart upload on key and deletes its state
// objects.
func (d *Driver) dropPending(ctx context.Context, key string) error {
	obj := d.objectKey(key)
	p := awss3.NewListMultipartUploadsPaginator(d.client, &awss3.ListMultipartUploadsInput{
		Bucket: &d.bucket,
		Prefix: &obj,
	})
	var uploads []string
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list multipart uploads: %w", err)
		}
		for _, u := range page.Uploads {
			if aws.ToString(u.Key) == obj {
				uploads = append(uploads, aws.ToString(u.UploadId))
			}
		}
	}
	for _, id := range uploads {
		if err := d.abort(ctx, obj, id); err != nil {
			return err
		}
	}
	for _, which := range []string{"head", "prev"} {
		_, err := d.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &d.bucket, Key: aws.String(d.stateKey(key, which))})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("delete pending state: %w", err)
		}
	}
	return nil
}

func (d *Driver) abort(ctx context.Context, objectKey, upload string) error {
	_, err := d.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{
		Bucket:   &d.bucket,
		Key:      &objectKey,
		UploadId: &upload,
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("abort multipart upload: %w", err)
	}
	return nil
}
