package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

// secretMarker is given to every secret setting through the environment;
// no error may repeat it.
const secretMarker = "S3cretMarker-5b1f"

// FuzzLoad: Load over any YAML file and any BERTH_* variables either
// fails without repeating a secret, or returns a configuration that
// validates and survives a round trip: written back as YAML and loaded
// again (with no environment) it is the same configuration.
func FuzzLoad(f *testing.F) {
	for _, s := range []struct{ yaml, env string }{
		{"", ""},
		{"data_dir: /var/lib/berth\nhttp:\n  addr: \":5000\"\n  trusted_proxies: [10.0.0.0/8, 127.0.0.1]\nlog:\n  format: json\n", ""},
		{"database:\n  url: postgres://u:p@db/berth\nauth:\n  token_key_file: /k.pem\n  token_expiration: 1h\n", "BERTH_LOG_LEVEL=debug"},
		{"storage:\n  type: s3\n  s3:\n    bucket: b\n    accesskey: a\n    chunksize: 5242880\n", "BERTH_STORAGE_S3_FORCEPATHSTYLE=true"},
		{"auth:\n  auth_mode: ldap_auth\nldap:\n  ldap_url: ldaps://dir:636\n  ldap_base_dn: dc=example,dc=org\n  ldap_search_dn: cn=admin,dc=example,dc=org\n  ldap_scope: 1\n", "BERTH_LDAP_SEARCH_PASSWORD_FILE=x"},
		{"uploads: {ttl: 30s}\nunknown: 1\n", "BERTH_UPLOAD_TTL=2h\nBERTH_HTTP_ADDR=:0"},
		{"a: &a [*a]\n", ""},
		{"http: {addr: [1, 2]}\n", "BERTH_LDAP_SCOPE=7"},
	} {
		f.Add([]byte(s.yaml), s.env)
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "berth.yaml")
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(secretMarker+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	secrets := map[string]string{
		"BERTH_ADMIN_PASSWORD":       secretMarker,
		"BERTH_STORAGE_S3_SECRETKEY": secretMarker,
		"BERTH_LDAP_SEARCH_PASSWORD": secretMarker,
	}
	f.Fuzz(func(t *testing.T, file []byte, env string) {
		// The file may name files to read: only the one secret file.
		var pre Config
		if decodeStrict(file, &pre) == nil && pre.Auth.AdminPasswordFile != "" {
			return
		}
		vars := map[string]string{}
		for _, line := range strings.Split(env, "\n") {
			k, v, _ := strings.Cut(line, "=")
			if strings.HasSuffix(k, "_FILE") {
				v = secretFile
			}
			vars[k] = v
		}
		for k, v := range secrets {
			if _, set := vars[k]; !set {
				vars[k] = v
			}
		}
		getenv := func(k string) string { return vars[k] }
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path, getenv)
		if err != nil {
			if strings.Contains(err.Error(), secretMarker) {
				t.Fatalf("the error repeats a secret: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load returned a configuration that does not validate: %v", err)
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		again, err := Load(path, func(string) string { return "" })
		if err != nil {
			t.Fatalf("the configuration written back does not load: %v\n%s", err, out)
		}
		if diff := cmp.Diff(cfg, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("the configuration changed in a round trip (-first +second):\n%s", diff)
		}
	})
}
