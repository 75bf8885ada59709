package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != ":5000" || cfg.Database.URL != "sqlite://data/berth.db" || cfg.Storage.Filesystem.RootDirectory != "data/storage" {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestLoadFileThenEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berth.yaml")
	yaml := "data_dir: /srv/berth\nhttp:\n  addr: 127.0.0.1:6000\nuploads:\n  ttl: 2h\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, env(map[string]string{"BERTH_HTTP_ADDR": "127.0.0.1:7000", "BERTH_EXTERNAL_URL": "https://reg.example.test"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.DataDir = "/srv/berth"
	want.HTTP.Addr = "127.0.0.1:7000"
	want.ExternalURL = "https://reg.example.test"
	want.Uploads.TTL = 2 * time.Hour
	want.Database.URL = "sqlite:///srv/berth/berth.db"
	want.Storage.Filesystem.RootDirectory = "/srv/berth/storage"
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Fatalf("config (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       []string
	}{
		{name: "unknown key", yaml: "http:\n  adress: x\n", want: []string{"adress"}},
		{name: "bad duration env", env: map[string]string{"BERTH_UPLOAD_TTL": "soon"}, want: []string{"BERTH_UPLOAD_TTL"}},
		{name: "every problem reported", env: map[string]string{"BERTH_LOG_LEVEL": "loud", "BERTH_STORAGE_TYPE": "tape", "BERTH_DATABASE_URL": "mysql://x"},
			want: []string{"log.level", "storage.type", "database.url"}},
		{name: "postgres needs a shared token key", env: map[string]string{"BERTH_DATABASE_URL": "postgres://u@db/berth"}, want: []string{"BERTH_TOKEN_KEY_FILE"}},
		{name: "bad external url", env: map[string]string{"BERTH_EXTERNAL_URL": "registry.example"}, want: []string{"external_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(path, env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEnvTableDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	for _, l := range EnvTable() {
		name, _, _ := strings.Cut(l, "\t")
		if strings.HasPrefix(name, "BERTH_STORAGE_S3_") {
			// Documented as BERTH_STORAGE_S3_<KEY> plus the key table.
			key := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(name, "BERTH_STORAGE_S3_"), "_FILE"))
			if !strings.Contains(string(readme), "`"+key+"`") && !strings.Contains(string(readme), name) {
				t.Errorf("README.md does not document S3 key %s", key)
			}
			continue
		}
		if !strings.Contains(string(readme), name) {
			t.Errorf("README.md does not document %s", name)
		}
	}
}

func TestAuthConfig(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("FromFile123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    func(*Config)
		wantErr string
	}{
		{name: "defaults", want: func(*Config) {}},
		{name: "admin password and token settings", env: map[string]string{
			"BERTH_ADMIN_PASSWORD": "Secret1234", "BERTH_TOKEN_KEY_FILE": "/k.pem", "BERTH_TOKEN_EXPIRATION": "10m",
			"BERTH_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1", "BERTH_LOGIN_FAILURES_PER_USER": "3",
			"BERTH_LOGIN_FAILURES_PER_IP": "30", "BERTH_LOGIN_FAILURE_WINDOW": "1m",
		}, want: func(c *Config) {
			c.Auth.AdminPassword, c.Auth.TokenKeyFile, c.Auth.TokenExpiration = "Secret1234", "/k.pem", 10*time.Minute
			c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.1"}
			c.Auth.LoginThrottle = LoginThrottle{FailuresPerUser: 3, FailuresPerIP: 30, Window: time.Minute}
		}},
		{name: "admin password from a file", env: map[string]string{"BERTH_ADMIN_PASSWORD_FILE": pwFile}, want: func(c *Config) {
			c.Auth.AdminPassword, c.Auth.AdminPasswordFile = "FromFile123", pwFile
		}},
		{name: "the variable wins over the file", env: map[string]string{"BERTH_ADMIN_PASSWORD": "Direct1234", "BERTH_ADMIN_PASSWORD_FILE": pwFile}, want: func(c *Config) {
			c.Auth.AdminPassword, c.Auth.AdminPasswordFile = "Direct1234", pwFile
		}},
		{name: "missing password file", env: map[string]string{"BERTH_ADMIN_PASSWORD_FILE": filepath.Join(dir, "nope")}, wantErr: "admin_password_file"},
		{name: "bad proxy", env: map[string]string{"BERTH_TRUSTED_PROXIES": "lb.example"}, wantErr: "trusted_proxies"},
		{name: "token too short", env: map[string]string{"BERTH_TOKEN_EXPIRATION": "1s"}, wantErr: "token_expiration"},
		{name: "zero failures", env: map[string]string{"BERTH_LOGIN_FAILURES_PER_USER": "0"}, wantErr: "failures_per_user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"BERTH_DATA_DIR": "/d"}
			for k, v := range tt.env {
				env[k] = v
			}
			got, err := Load("", func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load err = %v, want one mentioning %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := Load("", func(k string) string { return map[string]string{"BERTH_DATA_DIR": "/d"}[k] })
			tt.want(&want)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("config (-want +got):\n%s", d)
			}
		})
	}
}
