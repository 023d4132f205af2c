// Package auth puts a password file, an ACL file and a failed-login limiter
// together as the broker's Authenticator and Authorizer, and reloads the
// files when asked: a reload that fails keeps the rules in force.
//
// It implements the broker's interfaces without importing the broker, which
// declares them.
package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/gridmq/gridmq/internal/auth/acl"
	"github.com/gridmq/gridmq/internal/auth/passwd"
	"github.com/gridmq/gridmq/internal/auth/ratelimit"
	"github.com/gridmq/gridmq/internal/packet"
)

// Options name the files and the standard user.
type Options struct {
	PasswordFile string // "" when clients are not checked by password
	ACLFile      string // "" when every topic is allowed
	// StandardUser, when not "", is added to PasswordFile by Open with
	// StandardPassword if absent (creating the file), never changed if present.
	StandardUser     string
	StandardPassword string
	// Limiter slows down repeated failures; zero values take ratelimit's defaults.
	Limiter ratelimit.Config
}

// ErrTooManyFailures refuses an attempt from an address or for a user that
// has failed too often lately, before its password is checked.
var ErrTooManyFailures = &packet.Error{Code: packet.ConnectionRateExceeded, Reason: "too many failed logins; try again later"}

// Store is safe for concurrent use. Its checks read the rules in force
// without a lock; Reload swaps them.
type Store struct {
	opts     Options
	verifier *passwd.Verifier // nil without a password file
	rules    atomic.Pointer[acl.Rules]
	limiter  *ratelimit.Limiter
	reloadMu sync.Mutex
}

// Open loads the files, first adding the standard user when it is absent. An
// error names the file and, for a bad line, the line.
func Open(o Options) (*Store, error) {
	s := &Store{opts: o, limiter: ratelimit.New(o.Limiter)}
	if o.StandardPassword != "" && o.StandardUser == "" {
		return nil, errors.New("mqtt_password needs mqtt_username, the user it is for")
	}
	if o.StandardUser != "" {
		if o.PasswordFile == "" {
			return nil, errors.New("mqtt_username needs password_file: the standard user is kept there")
		}
		if o.StandardPassword == "" {
			return nil, errors.New("mqtt_username needs mqtt_password (or GRIDMQ_MQTT_PASSWORD)")
		}
		if err := ensureUser(o.PasswordFile, o.StandardUser, o.StandardPassword); err != nil {
			return nil, err
		}
	}
	f, rules, err := s.load()
	if err != nil {
		return nil, err
	}
	if f != nil {
		s.verifier = passwd.NewVerifier(f, 0)
	}
	s.rules.Store(rules)
	return s, nil
}

// ensureUser adds user to the password file at path unless it is there,
// creating the file if it does not exist. An existing password is never
// changed: the file is the operator's, the configuration only a fallback.
func ensureUser(path, user, password string) error {
	f, err := passwd.Load(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f = passwd.New()
	case err != nil:
		return err
	case f.Has(user):
		return nil
	}
	if err := f.Set(user, password, passwd.PBKDF2{}); err != nil {
		return fmt.Errorf("%s: adding standard user %q: %w", path, user, err)
	}
	return f.WriteFile(path)
}

// load reads both files; nil for a file not configured.
func (s *Store) load() (*passwd.File, *acl.Rules, error) {
	var f *passwd.File
	var rules *acl.Rules
	var err error
	if s.opts.PasswordFile != "" {
		if f, err = passwd.Load(s.opts.PasswordFile); err != nil {
			return nil, nil, err
		}
	}
	if s.opts.ACLFile != "" {
		if rules, err = acl.Load(s.opts.ACLFile); err != nil {
			return nil, nil, err
		}
	}
	return f, rules, nil
}

// Reload reads the files again and puts them in force together. If either
// is missing or bad, nothing changes and the error says where.
func (s *Store) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	f, rules, err := s.load()
	if err != nil {
		return err
	}
	if f != nil {
		// A user added or given a new password starts with a clean record: a
		// device that retried while it did not exist yet is let in at once.
		for _, u := range f.Users() {
			now, _ := f.Stamp(u)
			if before, ok := s.verifier.Stamp(u); !ok || before != now {
				s.limiter.Succeeded(u)
			}
		}
		s.verifier.Replace(f)
	}
	s.rules.Store(rules)
	return nil
}

// Files lists the configured files, for watching.
func (s *Store) Files() []string {
	var out []string
	for _, p := range []string{s.opts.PasswordFile, s.opts.ACLFile} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Authenticate checks a CONNECT's credentials from remote (the zero Addr when
// the transport has none). Credentials verified before pass at once; others
// are refused without a check while their address or username is backing
// off after failures. stamp identifies the password verified, for
// StillValid. Errors never contain the password.
func (s *Store) Authenticate(remote netip.Addr, username string, password []byte) (stamp string, err error) {
	if s.verifier == nil {
		return "", packet.BadUserNameOrPassword
	}
	pw := string(password)
	if stamp, ok := s.verifier.Known(username, pw); ok {
		return stamp, nil // a client that logged in before is never slowed down
	}
	if _, ok := s.limiter.Allow(remote, username); !ok {
		return "", ErrTooManyFailures
	}
	stamp, ok := s.verifier.VerifyStamp(username, pw)
	if !ok {
		if _, known := s.verifier.Stamp(username); !known {
			// Guessing at a user that does not exist gains nothing, and the answer does
			// not say it does not exist; counting it against the address would only lock
			// out a device that retries before an operator adds its user.
			remote = netip.Addr{}
		}
		s.limiter.Failed(remote, username)
		return "", packet.BadUserNameOrPassword
	}
	s.limiter.Succeeded(username)
	return stamp, nil
}

// StillValid reports whether a client admitted as username with stamp may
// stay connected: its user still exists with the same password.
func (s *Store) StillValid(username, stamp string) bool {
	if s.verifier == nil {
		return false
	}
	now, ok := s.verifier.Stamp(username)
	return ok && now == stamp
}

// CanPublish, CanSubscribe and CanReceive apply the ACL file; without one
// every topic is allowed.
func (s *Store) CanPublish(clientID, username string, anonymous bool, topic string) bool {
	r := s.rules.Load()
	return r == nil || r.Allowed(clientID, username, anonymous, acl.Write, topic)
}

func (s *Store) CanSubscribe(clientID, username string, anonymous bool, filter string) bool {
	r := s.rules.Load()
	return r == nil || r.CanSubscribe(clientID, username, anonymous, filter)
}

func (s *Store) CanReceive(clientID, username string, anonymous bool, topic string) bool {
	r := s.rules.Load()
	return r == nil || r.Allowed(clientID, username, anonymous, acl.Read, topic)
}
