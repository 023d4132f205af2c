// Package passwd reads, verifies and writes Mosquitto-compatible password files, so a site
// can point gridmq at the file mosquitto_passwd maintains and go back again.
//
// A file holds one "username:hash" per line. Like Mosquitto, lines whose first character is
// '#' are comments and blanks around the username and the hash are trimmed. Unlike Mosquitto,
// which skips a line without ':' and warns about a field it cannot decode, every such line is an
// error naming file:line, because a skipped user is a user who cannot log in for no visible
// reason. The hash formats read are Mosquitto's "$6$" (salted SHA-512), "$7$"
// (PBKDF2-HMAC-SHA512) and Mosquitto 2.1's "$argon2id$"; see hash.go.
//
// This package is a leaf: it must never import the broker.
package passwd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Sentinel errors carried by a *ParseError, to test with errors.Is.
var (
	ErrMalformedLine = errors.New(`line is not "username:hash"`)
	ErrDuplicateUser = errors.New("user appears twice")
	ErrBadUsername   = errors.New("invalid username")
	// ErrEmptyPassword refuses what mosquitto_passwd refuses: an empty password would let
	// anyone who knows the username connect.
	ErrEmptyPassword = errors.New("empty password")
)

// ParseError locates a bad line. Its message names the file and line and never includes the
// line's hash, which is as sensitive as the password to an offline attacker.
type ParseError struct {
	Name string // file name as given to Parse
	Line int    // 1-based
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// line is one line of the file: a user entry, or (user == "") a comment or blank line kept
// verbatim so that rewriting the file keeps it.
type line struct {
	user string
	hash *hash
	raw  string
}

// File is a parsed password file. Its methods are not safe for concurrent use; a broker shares
// one through a [Verifier].
type File struct {
	lines []line
	index map[string]int // user -> position in lines
}

// New returns an empty file.
func New() *File { return &File{index: make(map[string]int)} }

// Parse parses the contents of a password file; name is used only in error messages.
func Parse(name string, data []byte) (*File, error) {
	f := New()
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) == 0 {
		return f, nil
	}
	for i, text := range strings.Split(string(data), "\n") {
		n := i + 1
		text = strings.TrimSuffix(text, "\r")
		trimmed := strings.TrimSpace(text)
		if trimmed == "" || text[0] == '#' {
			f.lines = append(f.lines, line{raw: text})
			continue
		}
		user, field, ok := strings.Cut(text, ":")
		user, field = strings.TrimSpace(user), strings.TrimSpace(field)
		if !ok || user == "" || field == "" {
			return nil, &ParseError{name, n, ErrMalformedLine}
		}
		if err := checkUsername(user); err != nil {
			return nil, &ParseError{name, n, err}
		}
		if _, dup := f.index[user]; dup {
			return nil, &ParseError{name, n, fmt.Errorf("%w: %q", ErrDuplicateUser, user)}
		}
		h, err := decodeHash(field)
		if err != nil {
			return nil, &ParseError{name, n, fmt.Errorf("user %q: %w", user, err)}
		}
		f.index[user] = len(f.lines)
		f.lines = append(f.lines, line{user: user, hash: h})
	}
	return f, nil
}

// Load reads and parses the password file at path.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// CheckUsername reports whether user can be stored, so that a command can refuse a bad name
// before it asks for a password.
func CheckUsername(user string) error { return checkUsername(user) }

// checkUsername rejects names that could not be read back: Mosquitto splits at the first ':'
// and trims blanks, '#' starts a comment, and MQTT limits a UTF-8 string to 65535 bytes.
func checkUsername(user string) error {
	switch {
	case user == "":
		return fmt.Errorf("%w: empty", ErrBadUsername)
	case len(user) > 65535:
		return fmt.Errorf("%w: longer than 65535 bytes", ErrBadUsername)
	case user[0] == '#':
		return fmt.Errorf("%w: starts with '#'", ErrBadUsername)
	case strings.TrimSpace(user) != user:
		return fmt.Errorf("%w: leading or trailing blanks", ErrBadUsername)
	case strings.ContainsAny(user, ":\r\n\x00"):
		return fmt.Errorf("%w: contains ':', a line break or NUL", ErrBadUsername)
	}
	return nil
}

// Users returns the users in file order.
func (f *File) Users() []string {
	users := make([]string, 0, len(f.index))
	for _, l := range f.lines {
		if l.user != "" {
			users = append(users, l.user)
		}
	}
	return users
}

// Set adds user with password, or changes the password of an existing user in place.
// A nil h means PBKDF2 with DefaultIterations.
func (f *File) Set(user, password string, h Hasher) error {
	if err := checkUsername(user); err != nil {
		return err
	}
	if password == "" {
		return ErrEmptyPassword
	}
	if h == nil {
		h = PBKDF2{}
	}
	encoded, err := h.Hash(password)
	if err != nil {
		return err
	}
	decoded, err := decodeHash(encoded)
	if err != nil {
		return err
	}
	f.setHash(user, decoded)
	return nil
}

// Has reports whether user is in the file.
func (f *File) Has(user string) bool {
	_, ok := f.index[user]
	return ok
}

// setHash adds user with h, or replaces the hash of an existing user in place.
// The caller has checked the username.
func (f *File) setHash(user string, h *hash) {
	if i, ok := f.index[user]; ok {
		f.lines[i].hash = h
		return
	}
	f.index[user] = len(f.lines)
	f.lines = append(f.lines, line{user: user, hash: h})
}

// Delete removes user and reports whether it was present.
func (f *File) Delete(user string) bool {
	i, ok := f.index[user]
	if !ok {
		return false
	}
	f.lines = append(f.lines[:i], f.lines[i+1:]...)
	delete(f.index, user)
	for u, j := range f.index {
		if j > i {
			f.index[u] = j - 1
		}
	}
	return true
}

// Stamp returns what identifies user's password in f: the encoded hash, which changes
// whenever the password does. ok is false for an unknown user.
func (f *File) Stamp(user string) (stamp string, ok bool) {
	if h := f.lookup(user); h != nil {
		return h.encoded, true
	}
	return "", false
}

// lookup returns user's hash, or nil.
func (f *File) lookup(user string) *hash {
	if i, ok := f.index[user]; ok {
		return f.lines[i].hash
	}
	return nil
}

// Verify reports whether password is user's password. The comparison is constant-time, and an
// unknown user costs one default PBKDF2 derivation, about what a known $7$ user costs, so the
// response time does not tell which users exist.
func (f *File) Verify(user, password string) bool {
	return verifyHash(f.lookup(user), password)
}

func verifyHash(h *hash, password string) bool {
	if h == nil {
		dummyHash().matches(password)
		return false
	}
	return h.matches(password)
}

// dummyHash is what an unknown user is checked against, so that it pays for a derivation.
var dummyHash = sync.OnceValue(func() *hash {
	encoded, err := PBKDF2{}.Hash("unknown user")
	if err != nil {
		panic(err)
	}
	h, err := decodeHash(encoded)
	if err != nil {
		panic(err)
	}
	return h
})

// Bytes returns the file's contents: entries and comments in order, one per line.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.lines {
		if l.user == "" {
			b.WriteString(l.raw)
		} else {
			b.WriteString(l.user)
			b.WriteByte(':')
			b.WriteString(l.hash.encoded)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// WriteFile replaces the file at path atomically with mode 0600: it writes a temporary file in
// the same directory, syncs it, renames it over path and syncs the directory, so a crash
// leaves either the old file or the new one, never a mix. A file replaced keeps its owner and
// group, so that root editing the file of a broker running as another user does not lock the
// broker out of it.
func (f *File) WriteFile(path string) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if err = keepOwner(tmp, path); err != nil {
		return err
	}
	if _, err = tmp.Write(f.Bytes()); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
