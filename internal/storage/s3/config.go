package s3

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Size limits of S3 multipart uploads.
const (
	minPartSize = 5 << 20 // every part but the last
	maxPartSize = 5 << 30
	maxParts    = 10000
)

// Config holds the S3 settings under the keys that Distribution's and
// Harbor's users already have (storage.s3 in Berth's config file).
type Config struct {
	// Region of the bucket. Optional with RegionEndpoint (then "us-east-1")
	// or when the standard AWS chain (AWS_REGION, shared config) gives one.
	Region string `yaml:"region"`
	// Bucket must exist; Berth does not create it.
	Bucket string `yaml:"bucket"`
	// AccessKey and SecretKey, when both empty, leave credentials to the
	// standard AWS chain: environment, shared config, web identity (EKS),
	// instance role.
	AccessKey string `yaml:"accesskey"`
	SecretKey string `yaml:"secretkey"`
	// RegionEndpoint is an S3-compatible endpoint such as
	// "http://minio.minio.svc.cluster.local:9000"; empty for AWS. Without a
	// scheme, Secure chooses https or http.
	RegionEndpoint string `yaml:"regionendpoint"`
	// ForcePathStyle addresses the bucket in the path (most S3-compatible
	// stores need it) instead of the host name.
	ForcePathStyle bool `yaml:"forcepathstyle"`
	// Secure uses https for endpoints given without a scheme and for AWS.
	Secure bool `yaml:"secure"`
	// SkipVerify turns off TLS certificate verification (testing only).
	SkipVerify bool `yaml:"skipverify"`
	// RootDirectory is a key prefix under which Berth keeps everything.
	RootDirectory string `yaml:"rootdirectory"`
	// ChunkSize is the multipart part size, and the most a pending write
	// holds in memory. At least 5 MiB.
	ChunkSize int64 `yaml:"chunksize"`
	// MultipartCopyThreshold is the size above which Move copies with a
	// multipart copy (in parts of this size) instead of one CopyObject.
	MultipartCopyThreshold int64 `yaml:"multipartcopythreshold"`
	// StorageClass of stored objects; "NONE" leaves it to the bucket.
	StorageClass string `yaml:"storageclass"`
	// Encrypt asks for server-side encryption: SSE-KMS with KeyID when it is
	// set, SSE-S3 (AES256) otherwise.
	Encrypt bool   `yaml:"encrypt"`
	KeyID   string `yaml:"keyid"`
	// DisableRedirect makes RedirectURL fail with errors.ErrUnsupported, so
	// blobs are streamed through Berth instead of redirected to a presigned
	// URL (for endpoints clients cannot reach, such as in-cluster MinIO).
	DisableRedirect bool `yaml:"disableredirect"`
}

// DefaultConfig returns the defaults that YAML and environment overrides
// are applied on top of.
func DefaultConfig() Config {
	return Config{
		Secure:                 true,
		ChunkSize:              10 << 20,
		MultipartCopyThreshold: 32 << 20,
		StorageClass:           "STANDARD",
	}
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Bucket == "" {
		errs = append(errs, errors.New("bucket is required"))
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("accesskey and secretkey go together: set both or neither"))
	}
	if c.ChunkSize < minPartSize || c.ChunkSize > maxPartSize {
		errs = append(errs, fmt.Errorf("chunksize %d: want between %d (5 MiB) and %d (5 GiB)", c.ChunkSize, minPartSize, int64(maxPartSize)))
	}
	if c.MultipartCopyThreshold < minPartSize || c.MultipartCopyThreshold > maxPartSize {
		errs = append(errs, fmt.Errorf("multipartcopythreshold %d: want between %d (5 MiB) and %d (5 GiB)",
			c.MultipartCopyThreshold, minPartSize, int64(maxPartSize)))
	}
	if c.RegionEndpoint != "" {
		if _, err := c.endpoint(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.KeyID != "" && !c.Encrypt {
		errs = append(errs, errors.New("keyid is set but encrypt is false"))
	}
	for _, seg := range strings.Split(strings.Trim(c.RootDirectory, "/"), "/") {
		if seg == "." || seg == ".." {
			errs = append(errs, fmt.Errorf("rootdirectory %q: no . or .. segments", c.RootDirectory))
			break
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("s3 storage: %w", errors.Join(errs...))
	}
	return nil
}

// endpoint returns RegionEndpoint as a URL with a scheme, or "" for AWS.
func (c Config) endpoint() (string, error) {
	if c.RegionEndpoint == "" {
		return "", nil
	}
	e := c.RegionEndpoint
	if !strings.Contains(e, "://") {
		if c.Secure {
			e = "https://" + e
		} else {
			e = "http://" + e
		}
	}
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("regionendpoint %q: want a URL such as http://minio:9000", c.RegionEndpoint)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// prefix returns the key prefix for RootDirectory: "" or "dir/".
func (c Config) prefix() string {
	p := strings.Trim(c.RootDirectory, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}
