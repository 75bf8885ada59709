package tokenauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/berth-registry/berth/internal/secretfile"
)

// KeyFile is the name of the generated signing key in the data directory.
const KeyFile = "token-signing-key.pem"

// LoadKey reads a PEM private key: PKCS#8 ("PRIVATE KEY"), SEC 1 ("EC
// PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"). ECDSA keys must be P-256
// (ES256); RSA keys must have at least 2048 bits (RS256).
func LoadKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token signing key: %w", err)
	}
	k, err := parseKey(b)
	if err != nil {
		return nil, fmt.Errorf("token signing key %s: %w", path, err)
	}
	return k, nil
}

func parseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q: want a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("ECDSA key: want curve P-256 (ES256)")
		}
		return k, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, errors.New("RSA key: want at least 2048 bits")
		}
		return k, nil
	}
	return nil, fmt.Errorf("%T: want an ECDSA P-256 or RSA key", key)
}

// LoadOrCreateKey returns the key in <dataDir>/token-signing-key.pem,
// generating an ECDSA P-256 key there (mode 0600) when there is none, so
// that tokens survive restarts. Replicas that do not share the data
// directory must be given one key file instead (BERTH_TOKEN_KEY_FILE).
// Two processes creating the key at once end up with the same key.
func LoadOrCreateKey(dataDir string) (key crypto.Signer, created bool, err error) {
	path := filepath.Join(dataDir, KeyFile)
	if k, err := LoadKey(path); err == nil {
		return k, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("token signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ek)
	if err != nil {
		return nil, false, fmt.Errorf("token signing key: %w", err)
	}
	if err := secretfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), true); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process was first: use its key
			k, err := LoadKey(path)
			return k, false, err
		}
		return nil, false, fmt.Errorf("token signing key: %w", err)
	}
	return ek, true, nil
}

// signingMethod returns the JWT algorithm for key.
func signingMethod(key crypto.Signer) (jwt.SigningMethod, error) {
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("ECDSA key: want curve P-256")
		}
		return jwt.SigningMethodES256, nil
	case *rsa.PublicKey:
		return jwt.SigningMethodRS256, nil
	}
	return nil, fmt.Errorf("%T: want an ECDSA P-256 or RSA key", key)
}

// keyID is the libtrust fingerprint Docker's token tooling puts in "kid":
// the SHA-256 of the DER public key, first 240 bits, base32, in groups of
// four separated by colons.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	s := strings.TrimRight(base32.StdEncoding.EncodeToString(sum[:30]), "=")
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String(), nil
}
