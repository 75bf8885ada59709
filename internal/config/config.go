// Package config defines Berth's configuration: Default() (zero config:
// SQLite and a local data directory), then a strict YAML file (unknown keys
// are errors), then BERTH_* environment overrides from an explicit table,
// then Validate(), which reports every problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/berth-registry/berth/internal/identity/ldap"
)

// Config is Berth's whole configuration.
type Config struct {
	// DataDir holds the SQLite database and the filesystem driver's blobs
	// unless database.url or storage.filesystem.rootdirectory say otherwise.
	DataDir string `yaml:"data_dir"`
	// ExternalURL is how clients reach Berth (e.g. https://registry.example.com);
	// used in absolute URLs and auth challenges. Empty: derived per request.
	ExternalURL string   `yaml:"external_url"`
	HTTP        HTTP     `yaml:"http"`
	Database    Database `yaml:"database"`
	Storage     Storage  `yaml:"storage"`
	Uploads     Uploads  `yaml:"uploads"`
	GC          GC       `yaml:"gc"`
	Redis       Redis    `yaml:"redis"`
	Log         Log      `yaml:"log"`
	Auth        Auth     `yaml:"auth"`
	// LDAP holds the initial LDAP settings, with Harbor's key names
	// (ldap_url, ldap_search_dn, ...). Like auth.auth_mode, they are
	// written to the database at the first start only; afterwards the
	// database (GET/PUT /api/v2.0/configurations) is what counts.
	LDAP ldap.Config `yaml:"ldap"`
	// Debug configures the opt-in profiling listener.
	Debug Debug `yaml:"debug"`
	// Replication configures registry endpoints and replication.
	Replication Replication `yaml:"replication"`
	// Backup configures scheduled backups (docs/backup.md).
	Backup Backup `yaml:"backup"`
	// Webhook bounds where webhooks are delivered.
	Webhook Webhook `yaml:"webhook"`
}

// Webhook is the network policy of webhook deliveries, checked against
// the address each connection actually dials (so DNS rebinding is caught):
// an address in DenyNetworks is refused; one in AllowNetworks allowed;
// loopback, link-local (169.254.0.0/16, fe80::/10: cloud metadata),
// unspecified and multicast addresses are refused; everything else
// (private networks included) is allowed.
type Webhook struct {
	// AllowNetworks are CIDR ranges deliveries may reach even where they
	// are refused by default (e.g. 127.0.0.0/8 for a receiver beside Berth).
	AllowNetworks []string `yaml:"allow_networks"`
	// DenyNetworks are CIDR ranges deliveries never reach (e.g. the pod
	// and service networks of the cluster: 10.0.0.0/8).
	DenyNetworks []string `yaml:"deny_networks"`
}

// Replication configures registry endpoints, replication and proxy cache.
type Replication struct {
	// KeyFile holds the keys that encrypt registry credentials at rest
	// (AES-256-GCM): one key of at least 32 bytes a line, the newest
	// first. The newest encrypts; every key decrypts; at start every
	// credential is re-encrypted with the newest, after which old keys may
	// be removed. Every replica must read the same file. Empty: one key
	// derived from auth.secret_key_file, or else the token signing key.
	KeyFile string `yaml:"key_file"`
	// ProxyTagCheck is how long a proxy-cache project serves a cached tag
	// before checking it upstream again with a HEAD (default 1m; 0: at
	// every pull).
	ProxyTagCheck time.Duration `yaml:"proxy_tag_check"`
}

// Backup configures scheduled backups: off unless Schedule and Location
// are set. An s3:// location uses the storage.s3 endpoint and keys.
type Backup struct {
	// Schedule is a cron expression (5 fields, or 6 with seconds first;
	// @daily and the like too). Empty: no scheduled backups.
	Schedule string `yaml:"schedule"`
	// Location is the backup repository: a directory or s3://bucket/prefix.
	Location string `yaml:"location"`
	// Retention after each scheduled backup: the newest KeepLast snapshots,
	// the newest of each of the last KeepDaily days and KeepWeekly weeks
	// are kept, the rest and the blobs only they held are pruned. All
	// zero: nothing is pruned.
	KeepLast   int `yaml:"keep_last"`
	KeepDaily  int `yaml:"keep_daily"`
	KeepWeekly int `yaml:"keep_weekly"`
	// Workers copy blobs in parallel (default 4).
	Workers int `yaml:"workers"`
	// PollInterval is how often the backup job looks for a due scheduled
	// run and for runs requested through POST /system/backups (default 1m).
	PollInterval time.Duration `yaml:"poll_interval"`
}

// Debug configures the profiling listener (net/http/pprof), off unless
// Addr is set; never served on the main port.
type Debug struct {
	// Addr is where /debug/pprof/ listens, host:port; a bare :port binds
	// the loopback address only. Empty: off.
	Addr string `yaml:"addr"`
}

// Authentication modes (Harbor's auth_mode values).
const (
	AuthModeDB   = "db_auth"
	AuthModeLDAP = "ldap_auth"
)

// Project creation restrictions (Harbor's project_creation_restriction).
const (
	ProjectCreationEveryone  = "everyone"
	ProjectCreationAdminOnly = "adminonly"
)

// Auth configures authentication.
type Auth struct {
	// AdminPassword is the password of the administrator account created
	// at the first start (never used afterwards). Empty: a password is
	// generated, logged once and written to <data_dir>/admin-password.
	AdminPassword string `yaml:"admin_password"`
	// AdminPasswordFile holds AdminPassword (read when AdminPassword is empty).
	AdminPasswordFile string `yaml:"admin_password_file"`
	// TokenKeyFile is the PEM private key (ECDSA P-256 or RSA) signing
	// registry tokens; every replica must use the same one. Empty: a key
	// generated once in <data_dir>/token-signing-key.pem.
	TokenKeyFile string `yaml:"token_key_file"`
	// SecretKeyFile holds at least 32 bytes of secret that sign portal
	// sessions; every replica must use the same one. Empty: the session
	// key is derived from the token signing key, which replicas share.
	SecretKeyFile string `yaml:"secret_key_file"`
	// TokenExpiration is the initial lifetime of registry tokens (the
	// token_expiration system setting, in minutes, rounded up). Written to
	// the database at the first start only.
	TokenExpiration time.Duration `yaml:"token_expiration"`
	// LoginThrottle limits failed logins.
	LoginThrottle LoginThrottle `yaml:"login_throttle"`
	// AuthMode is the initial auth_mode: db_auth (local accounts only) or
	// ldap_auth (users log in with their directory password and are
	// onboarded at the first login; local accounts such as admin keep
	// working). Written to the database at the first start only.
	AuthMode string `yaml:"auth_mode"`
	// ProjectCreationRestriction is the initial
	// project_creation_restriction: everyone or adminonly. Written to the
	// database at the first start only.
	ProjectCreationRestriction string `yaml:"project_creation_restriction"`
}

// LoginThrottle limits failed logins per username and per client address
// within a window; a limited login waits for the window to end.
type LoginThrottle struct {
	FailuresPerUser int           `yaml:"failures_per_user"`
	FailuresPerIP   int           `yaml:"failures_per_ip"`
	Window          time.Duration `yaml:"window"`
}

// Redis configures the optional shared cache.
type Redis struct {
	// URL is redis://[user:password@]host:port/db. Empty: no cache.
	URL string `yaml:"url"`
}

// HTTP configures the listener.
type HTTP struct {
	// Addr is the listen address, host:port.
	Addr string `yaml:"addr"`
	// ShutdownTimeout bounds how long in-flight requests may take to
	// finish after SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ReadTimeout bounds reading a request, headers and body; while a blob
	// upload's body keeps arriving, each read pushes the deadline this far
	// ahead, so only a stalled client is cut off.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a response; while a blob download keeps
	// being read by the client, each write pushes the deadline this far ahead.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// TrustedProxies are the addresses or CIDR ranges of load balancers
	// whose X-Forwarded-For is believed when finding a client's address
	// (for login limits and audit). Empty: the peer address is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TLS makes the listener speak HTTPS (and HTTP/2). Empty: plain HTTP.
	TLS TLS `yaml:"tls"`
}

// ACME challenge types (http.tls.acme.challenge).
const (
	ChallengeTLSALPN = "tls-alpn-01"
	ChallengeHTTP    = "http-01"
)

// ACME certificate caches (http.tls.acme.cache).
const (
	ACMECacheDirectory = "directory"
	ACMECacheDatabase  = "database"
)

// TLS configures HTTPS: either a certificate and key from files (re-read
// when they change) or certificates obtained from an ACME server.
type TLS struct {
	// Certificate is the PEM certificate chain file, leaf first.
	Certificate string `yaml:"certificate"`
	// Key is the PEM private key file of the certificate.
	Key string `yaml:"key"`
	// ClientCAs is a PEM file of CA certificates; when set, every client
	// must present a certificate signed by one of them (mutual TLS).
	ClientCAs string `yaml:"clientcas"`
	// RedirectAddr, when set, is a second, plain-HTTP listener (e.g. :80)
	// that only redirects to HTTPS (and answers ACME HTTP-01 challenges).
	RedirectAddr string `yaml:"redirect_addr"`
	// ACME obtains and renews certificates automatically.
	ACME ACME `yaml:"acme"`
}

// Enabled reports whether Berth serves HTTPS.
func (t TLS) Enabled() bool { return t.Certificate != "" || t.Key != "" || t.ACME.Enabled() }

// ACME configures automatic certificates (RFC 8555).
type ACME struct {
	// Directory is the ACME server's directory URL. Setting it enables
	// ACME and accepts that CA's terms of service.
	Directory string `yaml:"directory"`
	// DirectoryCA is an optional PEM file of CAs to trust for the ACME
	// server itself (a private ACME CA); empty: the system's roots.
	DirectoryCA string `yaml:"directory_ca"`
	// Email is the contact address registered with the account.
	Email string `yaml:"email"`
	// Hosts are the names certificates are obtained for (default: the
	// host of external_url); no other name gets a certificate.
	Hosts []string `yaml:"hosts"`
	// Challenge is tls-alpn-01 (default; served on the TLS listener, which
	// must be reachable on port 443) or http-01 (served on redirect_addr,
	// which must be reachable on port 80).
	Challenge string `yaml:"challenge"`
	// Cache is directory (default: cache_dir) or database (the metadata
	// database, shared by every replica).
	Cache string `yaml:"cache"`
	// CacheDir holds the account key and certificates with cache:
	// directory. Empty: <data_dir>/acme.
	CacheDir string `yaml:"cache_dir"`
}

// Enabled reports whether certificates come from ACME.
func (a ACME) Enabled() bool { return a.Directory != "" }

// Database selects the metadata database.
type Database struct {
	// URL is sqlite:///abs/path.db, sqlite://relative/path.db or
	// postgres://user:pass@host:port/db?sslmode=disable.
	// Empty: sqlite://<data_dir>/berth.db.
	URL string `yaml:"url"`
}

// Storage selects the blob storage driver.
type Storage struct {
	// Type is "filesystem" (default) or "s3".
	Type       string     `yaml:"type"`
	Filesystem Filesystem `yaml:"filesystem"`
	S3         S3         `yaml:"s3"`
}

// S3 configures the S3 driver with the keys Distribution's and Harbor's
// users already have (persistence.imageChartStorage.s3 in Harbor's chart).
type S3 struct {
	Region                 string `yaml:"region"`
	Bucket                 string `yaml:"bucket"`
	AccessKey              string `yaml:"accesskey"` // empty with secretkey: the AWS credential chain (env, shared config, web identity)
	SecretKey              string `yaml:"secretkey"`
	RegionEndpoint         string `yaml:"regionendpoint"` // e.g. http://minio.minio.svc.cluster.local:9000
	ForcePathStyle         bool   `yaml:"forcepathstyle"`
	Secure                 bool   `yaml:"secure"`
	SkipVerify             bool   `yaml:"skipverify"`
	RootDirectory          string `yaml:"rootdirectory"`
	ChunkSize              int64  `yaml:"chunksize"`
	MultipartCopyThreshold int64  `yaml:"multipartcopythreshold"`
	StorageClass           string `yaml:"storageclass"`
	Encrypt                bool   `yaml:"encrypt"`
	KeyID                  string `yaml:"keyid"`
	// DisableRedirect streams blobs through Berth instead of redirecting
	// clients to presigned URLs (needed when clients cannot reach the store).
	DisableRedirect bool `yaml:"disableredirect"`
}

// Filesystem configures the filesystem driver.
type Filesystem struct {
	// RootDirectory holds the blobs. Empty: <data_dir>/storage.
	RootDirectory string `yaml:"rootdirectory"`
}

// GC configures online garbage collection (docs/design/gc.md).
type GC struct {
	// Grace is how long a blob nothing references is kept before it may
	// be deleted (a push in flight references it within that time).
	Grace time.Duration `yaml:"grace"`
	// Interval is how often the review queue is worked (once per cluster
	// per interval; `berth gc` and the API run it on demand too).
	Interval time.Duration `yaml:"interval"`
}

// Uploads configures upload sessions.
type Uploads struct {
	// TTL is how long an idle upload session lives before it is discarded.
	TTL time.Duration `yaml:"ttl"`
	// PurgeInterval is how often expired sessions are looked for.
	PurgeInterval time.Duration `yaml:"purge_interval"`
	// MaxPerRepository caps the open sessions of one repository; a new
	// one beyond it is refused with 429 TOOMANYREQUESTS. 0: no cap.
	MaxPerRepository int `yaml:"max_per_repository"`
	// MaxPerAccount caps the open sessions one user or robot opened,
	// across repositories. 0: no cap.
	MaxPerAccount int `yaml:"max_per_account"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Default is the zero-configuration setup: SQLite and local disk under ./data.
func Default() Config {
	return Config{
		DataDir: "./data",
		HTTP: HTTP{Addr: ":5000", ShutdownTimeout: 30 * time.Second,
			ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute},
		Storage: Storage{Type: "filesystem", S3: S3{
			Secure: true, ChunkSize: 10 << 20, MultipartCopyThreshold: 32 << 20, StorageClass: "STANDARD",
		}},
		Uploads:  Uploads{TTL: 24 * time.Hour, PurgeInterval: 10 * time.Minute, MaxPerRepository: 100, MaxPerAccount: 500},
		GC:       GC{Grace: 24 * time.Hour, Interval: time.Minute},
		Backup:   Backup{KeepLast: 7, KeepDaily: 7, KeepWeekly: 4, Workers: 4, PollInterval: time.Minute},
		Log:      Log{Level: "info", Format: "text"},
		Database: Database{},

		Replication: Replication{ProxyTagCheck: time.Minute},
		Auth: Auth{
			TokenExpiration: 5 * time.Minute,
			LoginThrottle:   LoginThrottle{FailuresPerUser: 10, FailuresPerIP: 50, Window: 5 * time.Minute},
			AuthMode:        AuthModeDB,

			ProjectCreationRestriction: ProjectCreationEveryone,
		},
		LDAP: ldap.DefaultConfig(),
	}
}

// envOverride is one row of the BERTH_* table.
type envOverride struct {
	name  string
	doc   string
	apply func(c *Config, v string) error
}

func setString(dst func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

// setFromFile reads a secret from the named file (trailing newline dropped).
func setFromFile(dst func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		*dst(c) = strings.TrimRight(string(b), "\r\n")
		return nil
	}
}

func setBool(dst func(c *Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false: %w", err)
		}
		*dst(c) = b
		return nil
	}
}

func setInt64(dst func(c *Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("want an integer: %w", err)
		}
		*dst(c) = n
		return nil
	}
}

func setInt(dst func(c *Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("want an integer: %w", err)
		}
		*dst(c) = n
		return nil
	}
}

func setScope(dst func(c *Config) *ldap.Scope) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("want 0 (base), 1 (one level) or 2 (subtree): %w", err)
		}
		*dst(c) = ldap.Scope(n)
		return nil
	}
}

// setList splits a comma-separated value.
func setList(dst func(c *Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		var out []string
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		*dst(c) = out
		return nil
	}
}

func setDuration(dst func(c *Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("want a duration such as 30s: %w", err)
		}
		*dst(c) = d
		return nil
	}
}

// envOverrides is the complete, documented list of environment variables.
var envOverrides = []envOverride{
	{"BERTH_HTTP_ADDR", "listen address (default :5000)", setString(func(c *Config) *string { return &c.HTTP.Addr })},
	{"BERTH_DATA_DIR", "data directory (default ./data)", setString(func(c *Config) *string { return &c.DataDir })},
	{"BERTH_EXTERNAL_URL", "URL clients use to reach Berth", setString(func(c *Config) *string { return &c.ExternalURL })},
	{"BERTH_DATABASE_URL", "metadata database URL (default sqlite://<data dir>/berth.db)", setString(func(c *Config) *string { return &c.Database.URL })},
	{"BERTH_STORAGE_TYPE", "storage driver: filesystem", setString(func(c *Config) *string { return &c.Storage.Type })},
	{"BERTH_STORAGE_FILESYSTEM_ROOTDIRECTORY", "filesystem driver root (default <data dir>/storage)", setString(func(c *Config) *string { return &c.Storage.Filesystem.RootDirectory })},
	{"BERTH_STORAGE_S3_REGION", "S3 region", setString(func(c *Config) *string { return &c.Storage.S3.Region })},
	{"BERTH_STORAGE_S3_BUCKET", "S3 bucket (must exist)", setString(func(c *Config) *string { return &c.Storage.S3.Bucket })},
	{"BERTH_STORAGE_S3_ACCESSKEY", "S3 access key (empty: AWS credential chain)", setString(func(c *Config) *string { return &c.Storage.S3.AccessKey })},
	{"BERTH_STORAGE_S3_SECRETKEY", "S3 secret key", setString(func(c *Config) *string { return &c.Storage.S3.SecretKey })},
	{"BERTH_STORAGE_S3_REGIONENDPOINT", "S3-compatible endpoint, e.g. http://minio:9000", setString(func(c *Config) *string { return &c.Storage.S3.RegionEndpoint })},
	{"BERTH_STORAGE_S3_FORCEPATHSTYLE", "bucket in the path, not the host name", setBool(func(c *Config) *bool { return &c.Storage.S3.ForcePathStyle })},
	{"BERTH_STORAGE_S3_SECURE", "https for endpoints without a scheme (default true)", setBool(func(c *Config) *bool { return &c.Storage.S3.Secure })},
	{"BERTH_STORAGE_S3_SKIPVERIFY", "skip TLS verification (testing only)", setBool(func(c *Config) *bool { return &c.Storage.S3.SkipVerify })},
	{"BERTH_STORAGE_S3_ROOTDIRECTORY", "key prefix for everything Berth stores", setString(func(c *Config) *string { return &c.Storage.S3.RootDirectory })},
	{"BERTH_STORAGE_S3_CHUNKSIZE", "multipart part size in bytes (default 10 MiB, min 5 MiB)", setInt64(func(c *Config) *int64 { return &c.Storage.S3.ChunkSize })},
	{"BERTH_STORAGE_S3_MULTIPARTCOPYTHRESHOLD", "size above which copies are multipart (default 32 MiB)", setInt64(func(c *Config) *int64 { return &c.Storage.S3.MultipartCopyThreshold })},
	{"BERTH_STORAGE_S3_STORAGECLASS", "storage class (default STANDARD; NONE leaves it to the bucket)", setString(func(c *Config) *string { return &c.Storage.S3.StorageClass })},
	{"BERTH_STORAGE_S3_ENCRYPT", "server-side encryption", setBool(func(c *Config) *bool { return &c.Storage.S3.Encrypt })},
	{"BERTH_STORAGE_S3_KEYID", "KMS key for encryption", setString(func(c *Config) *string { return &c.Storage.S3.KeyID })},
	{"BERTH_STORAGE_S3_DISABLEREDIRECT", "stream blobs instead of redirecting to presigned URLs", setBool(func(c *Config) *bool { return &c.Storage.S3.DisableRedirect })},
	{"BERTH_STORAGE_S3_SECRETKEY_FILE", "file holding the S3 secret key", setFromFile(func(c *Config) *string { return &c.Storage.S3.SecretKey })},
	{"BERTH_DEBUG_ADDR", "opt-in pprof listener, e.g. 127.0.0.1:6060 (a bare :port binds loopback; default off)", setString(func(c *Config) *string { return &c.Debug.Addr })},
	{"BERTH_REDIS_URL", "optional shared cache, redis://host:port/db", setString(func(c *Config) *string { return &c.Redis.URL })},
	{"BERTH_UPLOAD_TTL", "idle upload session lifetime (default 24h)", setDuration(func(c *Config) *time.Duration { return &c.Uploads.TTL })},
	{"BERTH_GC_GRACE", "how long unreferenced blobs are kept before garbage collection (default 24h)", setDuration(func(c *Config) *time.Duration { return &c.GC.Grace })},
	{"BERTH_BACKUP_SCHEDULE", "cron expression of scheduled backups (default: none)", setString(func(c *Config) *string { return &c.Backup.Schedule })},
	{"BERTH_BACKUP_LOCATION", "where scheduled backups go: DIR or s3://bucket/prefix", setString(func(c *Config) *string { return &c.Backup.Location })},
	{"BERTH_BACKUP_KEEP_LAST", "snapshots kept by retention: the newest N (default 7)", setInt(func(c *Config) *int { return &c.Backup.KeepLast })},
	{"BERTH_BACKUP_KEEP_DAILY", "snapshots kept by retention: one per day for N days (default 7)", setInt(func(c *Config) *int { return &c.Backup.KeepDaily })},
	{"BERTH_BACKUP_KEEP_WEEKLY", "snapshots kept by retention: one per week for N weeks (default 4)", setInt(func(c *Config) *int { return &c.Backup.KeepWeekly })},
	{"BERTH_GC_INTERVAL", "how often garbage collection works its review queue (default 1m)", setDuration(func(c *Config) *time.Duration { return &c.GC.Interval })},
	{"BERTH_UPLOAD_MAX_PER_REPOSITORY", "open upload sessions per repository, 0 for no cap (default 100)", setInt(func(c *Config) *int { return &c.Uploads.MaxPerRepository })},
	{"BERTH_UPLOAD_MAX_PER_ACCOUNT", "open upload sessions per user or robot, 0 for no cap (default 500)", setInt(func(c *Config) *int { return &c.Uploads.MaxPerAccount })},
	{"BERTH_HTTP_READ_TIMEOUT", "time to read a request; blob uploads get it anew at each read (default 1m)", setDuration(func(c *Config) *time.Duration { return &c.HTTP.ReadTimeout })},
	{"BERTH_HTTP_WRITE_TIMEOUT", "time to write a response; blob downloads get it anew at each write (default 1m)", setDuration(func(c *Config) *time.Duration { return &c.HTTP.WriteTimeout })},
	{"BERTH_HTTP_IDLE_TIMEOUT", "how long an idle kept-alive connection stays open (default 2m)", setDuration(func(c *Config) *time.Duration { return &c.HTTP.IdleTimeout })},
	{"BERTH_SHUTDOWN_TIMEOUT", "grace period for in-flight requests on SIGTERM (default 30s)", setDuration(func(c *Config) *time.Duration { return &c.HTTP.ShutdownTimeout })},
	{"BERTH_LOG_LEVEL", "debug, info, warn or error (default info)", setString(func(c *Config) *string { return &c.Log.Level })},
	{"BERTH_LOG_FORMAT", "text or json (default text)", setString(func(c *Config) *string { return &c.Log.Format })},
	{"BERTH_HTTP_TLS_CERTIFICATE", "PEM certificate chain file; with the key, Berth serves HTTPS", setString(func(c *Config) *string { return &c.HTTP.TLS.Certificate })},
	{"BERTH_HTTP_TLS_KEY", "PEM private key file of the certificate", setString(func(c *Config) *string { return &c.HTTP.TLS.Key })},
	{"BERTH_HTTP_TLS_CLIENTCAS", "PEM file of CAs that sign client certificates (mutual TLS)", setString(func(c *Config) *string { return &c.HTTP.TLS.ClientCAs })},
	{"BERTH_HTTP_TLS_REDIRECT_ADDR", "plain-HTTP listener that redirects to HTTPS, e.g. :80", setString(func(c *Config) *string { return &c.HTTP.TLS.RedirectAddr })},
	{"BERTH_HTTP_TLS_ACME_DIRECTORY", "ACME directory URL: certificates obtained and renewed automatically", setString(func(c *Config) *string { return &c.HTTP.TLS.ACME.Directory })},
	{"BERTH_HTTP_TLS_ACME_DIRECTORY_CA", "PEM file of CAs trusted for the ACME server", setString(func(c *Config) *string { return &c.HTTP.TLS.ACME.DirectoryCA })},
	{"BERTH_HTTP_TLS_ACME_EMAIL", "ACME account contact address", setString(func(c *Config) *string { return &c.HTTP.TLS.ACME.Email })},
	{"BERTH_HTTP_TLS_ACME_HOSTS", "comma-separated names to obtain certificates for (default: external_url's host)", setList(func(c *Config) *[]string { return &c.HTTP.TLS.ACME.Hosts })},
	{"BERTH_HTTP_TLS_ACME_CHALLENGE", "tls-alpn-01 (default) or http-01", setString(func(c *Config) *string { return &c.HTTP.TLS.ACME.Challenge })},
	{"BERTH_HTTP_TLS_ACME_CACHE", "directory (default) or database", setString(func(c *Config) *string { return &c.HTTP.TLS.ACME.Cache })},
	{"BERTH_HTTP_TLS_ACME_CACHE_DIR", "ACME cache directory (default <data dir>/acme)", setString(func(c *Config) *string { return &c.HTTP.TLS.ACME.CacheDir })},
	{"BERTH_TRUSTED_PROXIES", "comma-separated proxy addresses/CIDRs whose X-Forwarded-For is trusted", setList(func(c *Config) *[]string { return &c.HTTP.TrustedProxies })},
	{"BERTH_ADMIN_PASSWORD", "password of the admin account created at first start (default: generated)", setString(func(c *Config) *string { return &c.Auth.AdminPassword })},
	{"BERTH_ADMIN_PASSWORD_FILE", "file holding BERTH_ADMIN_PASSWORD", setString(func(c *Config) *string { return &c.Auth.AdminPasswordFile })},
	{"BERTH_SECRET_KEY_FILE", "secret (32+ bytes) signing portal sessions (default: derived from the token key)", setString(func(c *Config) *string { return &c.Auth.SecretKeyFile })},
	{"BERTH_REPLICATION_KEY_FILE", "keys (one a line, newest first) encrypting registry credentials (default: derived from the session or token key)", setString(func(c *Config) *string { return &c.Replication.KeyFile })},
	{"BERTH_WEBHOOK_ALLOW_NETWORKS", "comma-separated CIDRs webhooks may reach though refused by default (loopback, link-local)", setList(func(c *Config) *[]string { return &c.Webhook.AllowNetworks })},
	{"BERTH_WEBHOOK_DENY_NETWORKS", "comma-separated CIDRs webhooks never reach", setList(func(c *Config) *[]string { return &c.Webhook.DenyNetworks })},
	{"BERTH_TOKEN_KEY_FILE", "PEM key signing registry tokens (default with SQLite: generated in the data dir; required with PostgreSQL)", setString(func(c *Config) *string { return &c.Auth.TokenKeyFile })},
	{"BERTH_TOKEN_EXPIRATION", "registry token lifetime (default 5m)", setDuration(func(c *Config) *time.Duration { return &c.Auth.TokenExpiration })},
	{"BERTH_LOGIN_FAILURES_PER_USER", "failed logins per username per window (default 10)", setInt(func(c *Config) *int { return &c.Auth.LoginThrottle.FailuresPerUser })},
	{"BERTH_LOGIN_FAILURES_PER_IP", "failed logins per client address per window (default 50)", setInt(func(c *Config) *int { return &c.Auth.LoginThrottle.FailuresPerIP })},
	{"BERTH_LOGIN_FAILURE_WINDOW", "login throttle window (default 5m)", setDuration(func(c *Config) *time.Duration { return &c.Auth.LoginThrottle.Window })},
	// System settings: initial values, written to the database at the first start only.
	{"BERTH_AUTH_MODE", "initial auth_mode: db_auth or ldap_auth (default db_auth)", setString(func(c *Config) *string { return &c.Auth.AuthMode })},
	{"BERTH_PROJECT_CREATION_RESTRICTION", "initial project_creation_restriction: everyone or adminonly (default everyone)", setString(func(c *Config) *string { return &c.Auth.ProjectCreationRestriction })},
	{"BERTH_LDAP_URL", "initial ldap_url, ldap://host:389 or ldaps://host:636", setString(func(c *Config) *string { return &c.LDAP.URL })},
	{"BERTH_LDAP_SEARCH_DN", "initial ldap_search_dn, the DN Berth binds as to search", setString(func(c *Config) *string { return &c.LDAP.SearchDN })},
	// The file first, so that BERTH_LDAP_SEARCH_PASSWORD wins when both are set.
	{"BERTH_LDAP_SEARCH_PASSWORD_FILE", "file holding BERTH_LDAP_SEARCH_PASSWORD", setFromFile(func(c *Config) *string { return &c.LDAP.SearchPassword })},
	{"BERTH_LDAP_SEARCH_PASSWORD", "initial ldap_search_password", setString(func(c *Config) *string { return &c.LDAP.SearchPassword })},
	{"BERTH_LDAP_BASE_DN", "initial ldap_base_dn, where user searches start", setString(func(c *Config) *string { return &c.LDAP.BaseDN })},
	{"BERTH_LDAP_FILTER", "initial ldap_filter, e.g. (objectClass=person)", setString(func(c *Config) *string { return &c.LDAP.Filter })},
	{"BERTH_LDAP_UID", "initial ldap_uid, the login-name attribute (default uid)", setString(func(c *Config) *string { return &c.LDAP.UID })},
	{"BERTH_LDAP_SCOPE", "initial ldap_scope: 0 base, 1 one level, 2 subtree (default 2)", setScope(func(c *Config) *ldap.Scope { return &c.LDAP.Scope })},
	{"BERTH_LDAP_TIMEOUT", "initial ldap_timeout in seconds (default 5)", setInt(func(c *Config) *int { return &c.LDAP.Timeout })},
	{"BERTH_LDAP_VERIFY_CERT", "initial ldap_verify_cert (default true)", setBool(func(c *Config) *bool { return &c.LDAP.VerifyCert })},
	{"BERTH_LDAP_START_TLS", "initial ldap_start_tls: StartTLS on ldap:// (default false)", setBool(func(c *Config) *bool { return &c.LDAP.StartTLS })},
	{"BERTH_LDAP_GROUP_BASE_DN", "initial ldap_group_base_dn, where group searches start", setString(func(c *Config) *string { return &c.LDAP.GroupBaseDN })},
	{"BERTH_LDAP_GROUP_SEARCH_FILTER", "initial ldap_group_search_filter, e.g. (objectClass=groupOfNames)", setString(func(c *Config) *string { return &c.LDAP.GroupFilter })},
	{"BERTH_LDAP_GROUP_ATTRIBUTE_NAME", "initial ldap_group_attribute_name (default cn)", setString(func(c *Config) *string { return &c.LDAP.GroupNameAttribute })},
	{"BERTH_LDAP_GROUP_ADMIN_DN", "initial ldap_group_admin_dn, whose members are system admins", setString(func(c *Config) *string { return &c.LDAP.GroupAdminDN })},
	{"BERTH_LDAP_GROUP_MEMBERSHIP_ATTRIBUTE", "initial ldap_group_membership_attribute (default memberof)", setString(func(c *Config) *string { return &c.LDAP.GroupMembershipAttribute })},
	{"BERTH_LDAP_GROUP_SEARCH_SCOPE", "initial ldap_group_search_scope: 0, 1 or 2 (default 2)", setScope(func(c *Config) *ldap.Scope { return &c.LDAP.GroupScope })},
}

// EnvTable returns "NAME\tdescription" lines for documentation and --help.
func EnvTable() []string {
	out := make([]string, 0, len(envOverrides))
	for _, o := range envOverrides {
		out = append(out, o.name+"\t"+o.doc)
	}
	return out
}

// Load builds the configuration from defaults, the YAML file at path
// (optional) and the environment read through getenv.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := decodeStrict(b, &cfg); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	for _, o := range envOverrides {
		if v := getenv(o.name); v != "" {
			if err := o.apply(&cfg, v); err != nil {
				return Config{}, fmt.Errorf("%s: %w", o.name, err)
			}
		}
	}
	if cfg.Auth.AdminPassword == "" && cfg.Auth.AdminPasswordFile != "" {
		b, err := os.ReadFile(cfg.Auth.AdminPasswordFile)
		if err != nil {
			return Config{}, fmt.Errorf("auth.admin_password_file: %w", err)
		}
		cfg.Auth.AdminPassword = strings.TrimRight(string(b), "\r\n")
	}
	cfg.fillDerived()
	return cfg, cfg.Validate()
}

func decodeStrict(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: empty file
		return err
	}
	return nil
}

// fillDerived sets the defaults that depend on other settings.
func (c *Config) fillDerived() {
	if c.Database.URL == "" {
		// An absolute data dir gives sqlite:///abs/path, a relative one sqlite://rel/path.
		c.Database.URL = "sqlite://" + filepath.ToSlash(filepath.Join(c.DataDir, "berth.db"))
	}
	if c.Storage.Type == "" {
		c.Storage.Type = "filesystem"
	}
	if c.Storage.Type == "filesystem" && c.Storage.Filesystem.RootDirectory == "" {
		c.Storage.Filesystem.RootDirectory = filepath.Join(c.DataDir, "storage")
	}
	if a := &c.HTTP.TLS.ACME; a.Enabled() {
		if a.Challenge == "" {
			a.Challenge = ChallengeTLSALPN
		}
		if a.Cache == "" {
			a.Cache = ACMECacheDirectory
		}
		if a.Cache == ACMECacheDirectory && a.CacheDir == "" {
			a.CacheDir = filepath.Join(c.DataDir, "acme")
		}
		if len(a.Hosts) == 0 {
			if u, err := url.Parse(c.ExternalURL); err == nil && u.Hostname() != "" {
				a.Hosts = []string{u.Hostname()}
			}
		}
	}
}

// Validate reports every problem in c.
func (c Config) Validate() error {
	var errs []error
	if c.HTTP.Addr == "" {
		errs = append(errs, errors.New("http.addr is empty"))
	}
	if c.HTTP.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("http.shutdown_timeout must be positive"))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"http.read_timeout", c.HTTP.ReadTimeout}, {"http.write_timeout", c.HTTP.WriteTimeout}, {"http.idle_timeout", c.HTTP.IdleTimeout}} {
		if d.v < time.Second {
			errs = append(errs, fmt.Errorf("%s must be at least 1s", d.key))
		}
	}
	if c.Debug.Addr != "" {
		_, port, err := net.SplitHostPort(c.Debug.Addr)
		_, mainPort, _ := net.SplitHostPort(c.HTTP.Addr)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("debug.addr %q: want host:port", c.Debug.Addr))
		case port == mainPort:
			errs = append(errs, fmt.Errorf("debug.addr %q: must not share the main port", c.Debug.Addr))
		}
	}
	if c.Uploads.MaxPerRepository < 0 || c.Uploads.MaxPerAccount < 0 {
		errs = append(errs, errors.New("uploads.max_per_repository and uploads.max_per_account must not be negative (0: no cap)"))
	}
	if c.ExternalURL != "" {
		u, err := url.Parse(c.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("external_url %q: want http(s)://host[:port]", c.ExternalURL))
		}
	}
	errs = append(errs, c.validateTLS()...)
	switch {
	case strings.HasPrefix(c.Database.URL, "sqlite://"), strings.HasPrefix(c.Database.URL, "postgres://"), strings.HasPrefix(c.Database.URL, "postgresql://"):
	default:
		errs = append(errs, errors.New("database.url: want sqlite://path or postgres://user:pass@host:port/db"))
	}
	if (strings.HasPrefix(c.Database.URL, "postgres://") || strings.HasPrefix(c.Database.URL, "postgresql://")) && c.Auth.TokenKeyFile == "" {
		// With PostgreSQL there may be many replicas: a key generated by
		// each would make every replica reject the others' tokens.
		errs = append(errs, errors.New("auth.token_key_file (BERTH_TOKEN_KEY_FILE) is required with a PostgreSQL database: every replica must sign tokens with the same key"))
	}
	switch c.Storage.Type {
	case "filesystem":
		if c.Storage.Filesystem.RootDirectory == "" {
			errs = append(errs, errors.New("storage.filesystem.rootdirectory is empty"))
		}
	case "s3":
		if c.Storage.S3.Bucket == "" {
			errs = append(errs, errors.New("storage.s3.bucket is required"))
		}
		if (c.Storage.S3.AccessKey == "") != (c.Storage.S3.SecretKey == "") {
			errs = append(errs, errors.New("storage.s3.accesskey and secretkey go together: set both or neither"))
		}
	default:
		errs = append(errs, fmt.Errorf("storage.type %q: want filesystem or s3", c.Storage.Type))
	}
	if c.Redis.URL != "" && !strings.HasPrefix(c.Redis.URL, "redis://") && !strings.HasPrefix(c.Redis.URL, "rediss://") {
		errs = append(errs, errors.New("redis.url: want redis://host:port/db"))
	}
	if c.Uploads.TTL < time.Minute {
		errs = append(errs, errors.New("uploads.ttl must be at least 1m"))
	}
	if c.GC.Grace <= 0 || c.GC.Interval <= 0 {
		errs = append(errs, errors.New("gc.grace and gc.interval must be positive"))
	}
	if (c.Backup.Schedule == "") != (c.Backup.Location == "") {
		errs = append(errs, errors.New("backup.schedule and backup.location go together: set both or neither"))
	}
	if c.Backup.PollInterval <= 0 {
		errs = append(errs, errors.New("backup.poll_interval must be positive"))
	}
	if c.Backup.KeepLast < 0 || c.Backup.KeepDaily < 0 || c.Backup.KeepWeekly < 0 || c.Backup.Workers < 0 {
		errs = append(errs, errors.New("backup.keep_last, keep_daily, keep_weekly and workers must not be negative"))
	}
	if c.Uploads.PurgeInterval <= 0 {
		errs = append(errs, errors.New("uploads.purge_interval must be positive"))
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Log.Level))
	}
	switch strings.ToLower(c.Log.Format) {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: want text or json", c.Log.Format))
	}
	for _, p := range c.HTTP.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				errs = append(errs, fmt.Errorf("http.trusted_proxies: %q is neither an address nor a CIDR range", p))
			}
		}
	}
	for _, w := range []struct {
		key  string
		list []string
	}{{"webhook.allow_networks", c.Webhook.AllowNetworks}, {"webhook.deny_networks", c.Webhook.DenyNetworks}} {
		if len(w.list) > 100 {
			errs = append(errs, fmt.Errorf("%s: at most 100 ranges", w.key))
		}
		for _, p := range w.list {
			if _, err := netip.ParsePrefix(p); err != nil {
				if _, err := netip.ParseAddr(p); err != nil {
					errs = append(errs, fmt.Errorf("%s: %q is neither an address nor a CIDR range", w.key, p))
				}
			}
		}
	}
	if c.Auth.TokenExpiration < time.Minute || c.Auth.TokenExpiration > 24*time.Hour {
		errs = append(errs, errors.New("auth.token_expiration must be between 1m and 24h"))
	}
	if c.Auth.LoginThrottle.FailuresPerUser < 1 || c.Auth.LoginThrottle.FailuresPerIP < 1 {
		errs = append(errs, errors.New("auth.login_throttle failures_per_user and failures_per_ip must be at least 1"))
	}
	if c.Auth.LoginThrottle.Window < time.Second {
		errs = append(errs, errors.New("auth.login_throttle.window must be at least 1s"))
	}
	switch c.Auth.AuthMode {
	case AuthModeDB, AuthModeLDAP:
	default:
		errs = append(errs, fmt.Errorf("auth.auth_mode %q: want db_auth or ldap_auth", c.Auth.AuthMode))
	}
	switch c.Auth.ProjectCreationRestriction {
	case ProjectCreationEveryone, ProjectCreationAdminOnly:
	default:
		errs = append(errs, fmt.Errorf("auth.project_creation_restriction %q: want everyone or adminonly", c.Auth.ProjectCreationRestriction))
	}
	// The LDAP settings must be usable when they are the login path, and
	// sound whenever some are given.
	if c.Auth.AuthMode == AuthModeLDAP || c.LDAP.URL != "" {
		if err := c.LDAP.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("ldap: %w", err))
		}
	}
	return errors.Join(errs...)
}

// validateTLS checks http.tls; the files themselves are checked at start
// (tlsserve), where a problem names the file.
func (c Config) validateTLS() []error {
	t := c.HTTP.TLS
	var errs []error
	if !t.Enabled() {
		if t.ClientCAs != "" || t.RedirectAddr != "" {
			errs = append(errs, errors.New("http.tls.clientcas and http.tls.redirect_addr need http.tls.certificate and key, or http.tls.acme"))
		}
		return errs
	}
	if (t.Certificate == "") != (t.Key == "") {
		errs = append(errs, errors.New("http.tls.certificate and http.tls.key go together: set both"))
	}
	if t.Certificate != "" && t.ACME.Enabled() {
		errs = append(errs, errors.New("http.tls: set either certificate and key or acme, not both"))
	}
	if u, err := url.Parse(c.ExternalURL); c.ExternalURL != "" && err == nil && u.Scheme != "https" {
		errs = append(errs, fmt.Errorf("external_url %q: want https:// when Berth serves TLS", c.ExternalURL))
	}
	if a := t.ACME; a.Enabled() {
		if u, err := url.Parse(a.Directory); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("http.tls.acme.directory %q: want an https:// URL", a.Directory))
		}
		if len(a.Hosts) == 0 {
			errs = append(errs, errors.New("http.tls.acme.hosts is empty: set it, or external_url"))
		}
		switch a.Challenge {
		case ChallengeTLSALPN:
		case ChallengeHTTP:
			if t.RedirectAddr == "" {
				errs = append(errs, errors.New("http.tls.acme.challenge http-01 needs http.tls.redirect_addr (the plain-HTTP listener, port 80)"))
			}
		default:
			errs = append(errs, fmt.Errorf("http.tls.acme.challenge %q: want tls-alpn-01 or http-01", a.Challenge))
		}
		switch a.Cache {
		case ACMECacheDirectory, ACMECacheDatabase:
		default:
			errs = append(errs, fmt.Errorf("http.tls.acme.cache %q: want directory or database", a.Cache))
		}
	}
	return errs
}
