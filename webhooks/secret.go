package webhooks

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// sealer encrypts signing secrets at rest with AES-256-GCM; the webhook id
// is the additional data, so a sealed secret cannot be moved to another
// webhook.
type sealer struct{ aead cipher.AEAD }

// loadOrCreateKey reads the 32-byte key at path, creating it (0600) when
// missing. A key readable by group or others is refused.
func loadOrCreateKey(path string) (*sealer, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		rand.Read(key)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", path, err)
		}
		if _, err := f.Write(key); err != nil {
			f.Close()
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	} else {
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%w: %s has mode %v; chmod 600 it", ErrKeyFile, path, st.Mode().Perm())
		}
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: %s holds %d bytes, want 32", ErrKeyFile, path, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(id string, secret []byte) string {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, secret, []byte(id)))
}

func (s *sealer) open(id, sealed string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil || len(b) < s.aead.NonceSize() {
		return nil, fmt.Errorf("webhook %s: sealed secret is malformed", id)
	}
	n := s.aead.NonceSize()
	out, err := s.aead.Open(nil, b[:n], b[n:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("webhook %s: the secret does not decrypt with this key file", id)
	}
	return out, nil
}
