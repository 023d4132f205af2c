package passwd

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// ErrAlreadyHashed refuses a plain-text line whose password is already a hash: hashing it
// again, as mosquitto_passwd -U does, would lock its user out for good.
var ErrAlreadyHashed = errors.New("password is already a hash; importing it would hash the hash and lock the user out")

// ParsePlain reads a file of "username:password" lines in plain text, the input of
// mosquitto_passwd -U, and returns it with every password hashed by h (nil means PBKDF2
// with DefaultIterations). name is used only in error messages, which never quote a password.
//
// As with mosquitto_passwd -U, blanks around the username and the password are trimmed.
// Unlike it, comments and blank lines are kept rather than refused, a password may contain
// ':' (mosquitto_passwd -U keeps only the part before the second ':'), and a line whose
// password starts like a hash ($6$, $7$, $argon2id$) is an error rather than hashed again.
func ParsePlain(name string, data []byte, h Hasher) (*File, error) {
	if h == nil {
		h = PBKDF2{}
	}
	f := New()
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) == 0 {
		return f, nil
	}
	for i, text := range strings.Split(string(data), "\n") {
		n := i + 1
		text = strings.TrimSuffix(text, "\r")
		if strings.TrimSpace(text) == "" || text[0] == '#' {
			f.lines = append(f.lines, line{raw: text})
			continue
		}
		user, password, ok := strings.Cut(text, ":")
		user, password = strings.TrimSpace(user), strings.TrimSpace(password)
		if !ok || user == "" {
			return nil, &ParseError{name, n, errors.New(`line is not "username:password"`)}
		}
		if err := checkUsername(user); err != nil {
			return nil, &ParseError{name, n, err}
		}
		if f.Has(user) {
			return nil, &ParseError{name, n, fmt.Errorf("%w: %q", ErrDuplicateUser, user)}
		}
		if looksHashed(password) {
			return nil, &ParseError{name, n, fmt.Errorf("user %q: %w", user, ErrAlreadyHashed)}
		}
		if err := f.Set(user, password, h); err != nil {
			return nil, &ParseError{name, n, fmt.Errorf("user %q: %w", user, err)}
		}
	}
	return f, nil
}

// looksHashed reports whether a password starts with the prefix of a hash format this
// package reads, whether or not the rest decodes.
func looksHashed(password string) bool {
	for _, prefix := range []string{"$6$", "$7$", argon2Prefix} {
		if strings.HasPrefix(password, prefix) {
			return true
		}
	}
	return false
}
