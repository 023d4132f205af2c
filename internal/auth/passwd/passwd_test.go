package passwd

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Vectors made with Python's hashlib, independently of this package, in the layout of
// Mosquitto's common/password_mosq.c: $6$ is SHA-512(password || salt); $7$ is
// PBKDF2-HMAC-SHA512 with a 64-byte key; salts of 12 bytes (Mosquitto 1.x) and 64 bytes
// (Mosquitto 2.x); padded standard base64. All are for the password "hunter2".
const (
	vecSHA512Salt12 = "$6$AAECAwQFBgcICQoL$M9uy5baAQVewJoSC57pHtZGlGqRX3jq5tEx8s7W8w29wGLojIaP2qVdfjIolAUlK8fbO0hmJW7cZTx1fVju1PQ=="
	vecSHA512Salt64 = "$6$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==$fvrwWJNndz1In8uqoS1FAn05iCquLs71xkOOyQsbWeALIvYWr79w4SJFp+3E1bLnDMJLi6gO4WYY1inKPRgeLA=="
	vecPBKDF2Salt12 = "$7$1000$AAECAwQFBgcICQoL$cK9QJEgADvKpCwPGxGBAcS8PPs1AlYCZFvW2qY38neOizETb0SS2lwcg2GYi7TcWksnim31jGVPMPPYJlHux5A=="
	vecPBKDF2Salt64 = "$7$3$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==$Z2N++P16WgvuHQUZrA5rAR/06rSIIT8oBQzdGo9GCJn1aL906TE2kqVtALfE9wT/NPvegU71681NOLdrSBjGOw=="
	// Written by Debian's mosquitto_passwd 2.0.11 (-b alice s3cret): 101 iterations, 12-byte salt.
	// From the Argon2 reference implementation's tests (phc-winner-argon2 src/test.c),
	// password "password": the PHC encoding libargon2 gives Mosquitto 2.1.
	vecArgon2idReference = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	vecMosquitto2011     = "$7$101$3RGeqAde6tzNOAup$E3KKnMMfpSZ3lE3aO0VUl7Lumqk+Ig7aHqrwALaTbQCDej1BF94pf9Fkt0vYnv8PchrIaWdxb2trFBbzoan3+Q=="
)

// cheap is a fast hasher for tests that are not about the default's cost.
var cheap = PBKDF2{Iterations: 10}

func TestVerifyFormats(t *testing.T) {
	argon, err := Argon2id{Time: 1, MemoryKiB: 64, Threads: 1}.Hash("hunter2")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hash, password string
	}{
		{"sha512 12-byte salt", vecSHA512Salt12, "hunter2"},
		{"sha512 64-byte salt", vecSHA512Salt64, "hunter2"},
		{"pbkdf2 12-byte salt", vecPBKDF2Salt12, "hunter2"},
		{"pbkdf2 64-byte salt", vecPBKDF2Salt64, "hunter2"},
		{"mosquitto_passwd 2.0.11", vecMosquitto2011, "s3cret"},
		{"sha512 unpadded base64", strings.TrimRight(vecSHA512Salt12, "="), "hunter2"},
		{"argon2id written here", argon, "hunter2"},
		{"argon2id reference vector", vecArgon2idReference, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("pw", []byte("u:"+tt.hash+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if !f.Verify("u", tt.password) {
				t.Error("right password refused")
			}
			for _, wrong := range []string{"", tt.password + "x", strings.ToUpper(tt.password)} {
				if f.Verify("u", wrong) {
					t.Errorf("wrong password %q accepted", wrong)
				}
			}
			if f.Verify("nobody", tt.password) {
				t.Error("unknown user accepted")
			}
		})
	}
}

func TestParse(t *testing.T) {
	good := "# comment\n\nalice:" + vecSHA512Salt12 + "\r\n  bob  :  " + vecPBKDF2Salt12 + "  \n"
	f, err := Parse("pw", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Users(); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("Users() = %q", got)
	}
	if !f.Verify("bob", "hunter2") {
		t.Error("bob refused: blanks around fields must be trimmed as Mosquitto does")
	}

	bad := []struct {
		name, data, wantPos string
		want                error
	}{
		// Mosquitto skips a line without ':'; gridmq refuses, so no user silently disappears.
		{"no colon", "# c\nalice\n", "pw:2:", ErrMalformedLine},
		{"empty hash", "alice:\n", "pw:1:", ErrMalformedLine},
		{"empty user", ":" + vecSHA512Salt12 + "\n", "pw:1:", ErrMalformedLine},
		{"duplicate", "a:" + vecSHA512Salt12 + "\na:" + vecSHA512Salt12 + "\n", "pw:2:", ErrDuplicateUser},
		// Mosquitto's broker needs hashed passwords; plain text is what mosquitto_passwd -U converts.
		{"plain text", "a:hunter2\n", "pw:1:", ErrBadHash},
		{"crypt sha512", "a:$6$rounds=5000$salt$hash\n", "pw:1:", ErrBadHash},
		{"bad base64", "a:$6$!!!!$" + strings.Repeat("A", 88) + "\n", "pw:1:", ErrBadHash},
		{"salt length", "a:$6$AAAA$" + vecSHA512Salt12[20:] + "\n", "pw:1:", ErrBadHash},
		{"short hash", "a:$6$AAECAwQFBgcICQoL$AAAA\n", "pw:1:", ErrBadHash},
		{"zero iterations", "a:" + strings.Replace(vecPBKDF2Salt12, "$1000$", "$0$", 1) + "\n", "pw:1:", ErrBadHash},
		{"iterations not a number", "a:" + strings.Replace(vecPBKDF2Salt12, "$1000$", "$1e3$", 1) + "\n", "pw:1:", ErrBadHash},
		{"argon2i", "a:$argon2i$v=19$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAA\n", "pw:1:", ErrBadHash},
		{"argon2id version", "a:$argon2id$v=16$m=64,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAA\n", "pw:1:", ErrBadHash},
		{"argon2id params", "a:$argon2id$v=19$m=64,t=0,p=1$AAAAAAAAAAA$AAAAAAAAAAA\n", "pw:1:", ErrBadHash},
		{"argon2id padded", "a:$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAA=$AAAAAAAAAAA\n", "pw:1:", ErrBadHash},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("pw", []byte(tt.data))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tt.wantPos) {
				t.Fatalf("err = %q, want a *ParseError starting %q", err, tt.wantPos)
			}
			// The message must not leak any part of the stored hash.
			if _, field, ok := strings.Cut(strings.TrimSpace(tt.data[strings.LastIndex(tt.data[:len(tt.data)-1], "\n")+1:]), ":"); ok && len(field) > 3 {
				if strings.Contains(err.Error(), field[3:]) {
					t.Errorf("error %q quotes the hash", err)
				}
			}
		})
	}
}

func TestSetDeleteWriteLoad(t *testing.T) {
	f, err := Parse("pw", []byte("# managed by hand\nalice:"+vecSHA512Salt12+"\n\nbob:"+vecPBKDF2Salt12+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set("carol", "pw-c", cheap); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("alice", "new-a", Argon2id{Time: 1, MemoryKiB: 64, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	if !f.Delete("bob") || f.Delete("bob") {
		t.Fatal("Delete should report presence once")
	}
	for _, bad := range []string{"", "a:b", "#a", " a", "a\nb"} {
		if err := f.Set(bad, "x", cheap); !errors.Is(err, ErrBadUsername) {
			t.Errorf("Set(%q) err = %v, want ErrBadUsername", bad, err)
		}
	}

	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("temporary file left behind: %v", ents)
	}

	if err := f.WriteFile(filepath.Join(t.TempDir(), "missing", "passwd")); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}

	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Users(); !slices.Equal(got, []string{"alice", "carol"}) {
		t.Fatalf("Users() = %q, want order kept", got)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# managed by hand\nalice:$argon2id$") || !strings.Contains(string(data), "\n\ncarol:$7$10$") {
		t.Errorf("comments or order lost:\n%s", data)
	}
	if !g.Verify("alice", "new-a") || g.Verify("alice", "hunter2") || !g.Verify("carol", "pw-c") || g.Verify("bob", "hunter2") {
		t.Error("reloaded file verifies wrongly")
	}
}

func TestDefaultHasher(t *testing.T) {
	f := New()
	if err := f.Set("u", "pw", nil); err != nil {
		t.Fatal(err)
	}
	enc := f.lookup("u").encoded
	if !strings.HasPrefix(enc, "$7$210000$") {
		t.Fatalf("default hash %q is not $7$ with %d iterations", enc[:12], DefaultIterations)
	}
	if h := f.lookup("u"); len(h.salt) != oldSaltLen || len(h.key) != keyLen {
		t.Errorf("salt %d key %d bytes, want %d and %d", len(h.salt), len(h.key), oldSaltLen, keyLen)
	}
	if err := f.Set("v", "pw", PBKDF2{Iterations: 5, SaltBytes: 64}); err != nil {
		t.Fatal(err)
	}
	if h := f.lookup("v"); len(h.salt) != saltLen || !f.Verify("v", "pw") {
		t.Errorf("64-byte salt option: salt %d bytes", len(h.salt))
	}
	if err := f.Set("w", "pw", PBKDF2{SaltBytes: 16}); err == nil {
		t.Error("16-byte salt accepted; Mosquitto could not read it")
	}
	if !f.Verify("u", "pw") || f.Verify("u", "pW") {
		t.Error("default hash verifies wrongly")
	}
}
