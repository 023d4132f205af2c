package passwd

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Sizes fixed by Mosquitto's source: HASH_LEN is 64 (the SHA-512 digest size, also used for
// PBKDF2 and argon2id output). A $6$ or $7$ salt must be 12 bytes for the Mosquitto 2.0 broker
// (src/security_default.c removes any entry whose salt is another length), while Mosquitto 2.1
// (common/password_mosq.c) reads 12 or 64 and writes 64.
const (
	keyLen       = 64
	oldSaltLen   = 12
	saltLen      = 64
	argon2Prefix = "$argon2id$"
)

// DefaultIterations is the PBKDF2-HMAC-SHA512 iteration count written by [PBKDF2] when its
// Iterations field is zero. It is OWASP's 2023 recommendation for PBKDF2-HMAC-SHA512; see
// docs/decisions/0003-password-hashes.md for its measured cost. mosquitto_passwd 2.0 writes 101.
const DefaultIterations = 210_000

// Mosquitto 2.1's argon2id parameters (MOSQ_ARGON2_T, _M, _P in common/password_mosq.c).
const (
	DefaultArgon2Time      = 1
	DefaultArgon2MemoryKiB = 47104
	DefaultArgon2Threads   = 1
)

// ErrBadHash reports a password field that is not one of the formats Mosquitto reads.
var ErrBadHash = errors.New("unsupported or malformed password hash")

// A Hasher turns a password into the encoded hash stored in a password file.
type Hasher interface {
	Hash(password string) (string, error)
}

// PBKDF2 writes Mosquitto's "$7$" format: PBKDF2-HMAC-SHA512 with a random salt and a 64-byte
// key, "$7$<iterations>$<base64 salt>$<base64 key>" in padded standard base64.
type PBKDF2 struct {
	Iterations int // zero means DefaultIterations
	// SaltBytes is 12 or 64; zero means 12, the only length the Mosquitto 2.0 broker reads,
	// so that a site can still go back to Debian's Mosquitto. 96 random bits make a repeated
	// salt negligible for any realistic number of users; 64 is what Mosquitto 2.1 writes.
	SaltBytes int
}

// Hash implements Hasher.
func (p PBKDF2) Hash(password string) (string, error) {
	iter := p.Iterations
	if iter == 0 {
		iter = DefaultIterations
	}
	if iter < 1 {
		return "", fmt.Errorf("passwd: PBKDF2 iterations %d < 1", iter)
	}
	n := p.SaltBytes
	if n == 0 {
		n = oldSaltLen
	}
	if n != oldSaltLen && n != saltLen {
		return "", fmt.Errorf("passwd: PBKDF2 salt of %d bytes; Mosquitto reads %d or %d", n, oldSaltLen, saltLen)
	}
	salt := make([]byte, n)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha512.New, password, salt, iter, keyLen)
	if err != nil {
		return "", err
	}
	return "$7$" + strconv.Itoa(iter) + "$" + base64.StdEncoding.EncodeToString(salt) + "$" +
		base64.StdEncoding.EncodeToString(key), nil
}

// Argon2id writes the PHC string Mosquitto 2.1 writes through libargon2:
// "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>", unpadded standard base64,
// 64-byte salt and key. Zero fields take Mosquitto 2.1's defaults.
type Argon2id struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// Hash implements Hasher.
func (a Argon2id) Hash(password string) (string, error) {
	if a.Time == 0 {
		a.Time = DefaultArgon2Time
	}
	if a.MemoryKiB == 0 {
		a.MemoryKiB = DefaultArgon2MemoryKiB
	}
	if a.Threads == 0 {
		a.Threads = DefaultArgon2Threads
	}
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, a.Time, a.MemoryKiB, a.Threads, keyLen)
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argon2Prefix, argon2.Version,
		a.MemoryKiB, a.Time, a.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

type hashKind uint8

const (
	kindSHA512   hashKind = iota + 1 // $6$
	kindPBKDF2                       // $7$
	kindArgon2id                     // $argon2id$
)

// hash is one decoded password field. It is immutable once decoded, so a goroutine may verify
// against it without holding any lock.
type hash struct {
	encoded    string // the field exactly as read or written; also its identity in the cache
	kind       hashKind
	iterations int // kindPBKDF2
	time       uint32
	memoryKiB  uint32
	threads    uint8
	salt, key  []byte
}

// decodeHash parses a password field. Its errors never quote the field.
func decodeHash(s string) (*hash, error) {
	switch {
	case strings.HasPrefix(s, "$6$"):
		// $6$<salt>$<hash>: Mosquitto's own salted SHA-512, not crypt(3)'s sha512-crypt.
		parts := strings.Split(s[3:], "$")
		if len(parts) != 2 {
			return nil, fmt.Errorf("%w: $6$ needs salt and hash", ErrBadHash)
		}
		salt, key, err := decodeSaltKey(parts[0], parts[1], decodeMosquittoBase64)
		if err != nil {
			return nil, err
		}
		return &hash{encoded: s, kind: kindSHA512, salt: salt, key: key}, nil
	case strings.HasPrefix(s, "$7$"):
		parts := strings.Split(s[3:], "$")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: $7$ needs iterations, salt and hash", ErrBadHash)
		}
		iter, err := strconv.Atoi(parts[0])
		if err != nil || iter < 1 {
			return nil, fmt.Errorf("%w: $7$ iteration count is not a positive integer", ErrBadHash)
		}
		salt, key, err := decodeSaltKey(parts[1], parts[2], decodeMosquittoBase64)
		if err != nil {
			return nil, err
		}
		return &hash{encoded: s, kind: kindPBKDF2, iterations: iter, salt: salt, key: key}, nil
	case strings.HasPrefix(s, argon2Prefix):
		return decodeArgon2id(s)
	}
	return nil, fmt.Errorf("%w: expected $6$, $7$ or $argon2id$ (plain-text passwords are not accepted)", ErrBadHash)
}

func decodeArgon2id(s string) (*hash, error) {
	// $argon2id$v=19$m=47104,t=1,p=1$<salt>$<key>
	parts := strings.Split(s[len(argon2Prefix):], "$")
	if len(parts) != 4 {
		return nil, fmt.Errorf("%w: $argon2id$ needs version, parameters, salt and hash", ErrBadHash)
	}
	var version int
	if _, err := fmt.Sscanf(parts[0], "v=%d", &version); err != nil || version != argon2.Version {
		return nil, fmt.Errorf("%w: argon2id version must be v=%d", ErrBadHash, argon2.Version)
	}
	h := &hash{encoded: s, kind: kindArgon2id}
	var m, t, p uint64
	n, err := fmt.Sscanf(parts[1], "m=%d,t=%d,p=%d", &m, &t, &p)
	if err != nil || n != 3 || m == 0 || t == 0 || p == 0 || m > 1<<32-1 || t > 1<<32-1 || p > 255 {
		return nil, fmt.Errorf("%w: argon2id parameters must be m=<KiB>,t=<passes>,p=<lanes>", ErrBadHash)
	}
	h.memoryKiB, h.time, h.threads = uint32(m), uint32(t), uint8(p)
	raw := func(s string) ([]byte, error) { return base64.RawStdEncoding.Strict().DecodeString(s) }
	h.salt, err = raw(parts[2])
	if err != nil || len(h.salt) < 8 {
		return nil, fmt.Errorf("%w: argon2id salt is not base64 of at least 8 bytes", ErrBadHash)
	}
	h.key, err = raw(parts[3])
	if err != nil || len(h.key) < 4 {
		return nil, fmt.Errorf("%w: argon2id hash is not base64 of at least 4 bytes", ErrBadHash)
	}
	return h, nil
}

// decodeMosquittoBase64 reads the base64 Mosquitto writes through OpenSSL's BIO_f_base64: the
// standard alphabet with '=' padding. Unpadded input is accepted too, since hand-made files
// (and some generators) drop the padding.
func decodeMosquittoBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func decodeSaltKey(salt64, key64 string, dec func(string) ([]byte, error)) (salt, key []byte, err error) {
	salt, err = dec(salt64)
	if err != nil || (len(salt) != oldSaltLen && len(salt) != saltLen) {
		return nil, nil, fmt.Errorf("%w: salt is not base64 of %d or %d bytes", ErrBadHash, oldSaltLen, saltLen)
	}
	key, err = dec(key64)
	if err != nil || len(key) != keyLen {
		return nil, nil, fmt.Errorf("%w: hash is not base64 of %d bytes", ErrBadHash, keyLen)
	}
	return salt, key, nil
}

// derive computes the key for password under h's parameters and salt.
func (h *hash) derive(password string) []byte {
	switch h.kind {
	case kindSHA512:
		// Mosquitto hashes the password bytes followed by the salt bytes, once.
		d := sha512.New()
		d.Write([]byte(password))
		d.Write(h.salt)
		return d.Sum(nil)
	case kindPBKDF2:
		key, err := pbkdf2.Key(sha512.New, password, h.salt, h.iterations, len(h.key))
		if err != nil {
			return nil
		}
		return key
	case kindArgon2id:
		return argon2.IDKey([]byte(password), h.salt, h.time, h.memoryKiB, h.threads, uint32(len(h.key)))
	}
	return nil
}

// matches reports whether password hashes to h, comparing in constant time.
func (h *hash) matches(password string) bool {
	got := h.derive(password)
	return len(got) == len(h.key) && subtle.ConstantTimeCompare(got, h.key) == 1
}
