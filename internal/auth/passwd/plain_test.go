package passwd

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParsePlain(t *testing.T) {
	f, err := ParsePlain("plain", []byte("# site users\nalice:s3cret\n\n bob : with blanks \r\ncarol:p:with:colons\n"), cheap)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Users(); !slices.Equal(got, []string{"alice", "bob", "carol"}) {
		t.Fatalf("users = %q", got)
	}
	if !f.Verify("alice", "s3cret") || !f.Verify("bob", "with blanks") || !f.Verify("carol", "p:with:colons") {
		t.Error("a password does not verify")
	}
	out := string(f.Bytes())
	if !strings.HasPrefix(out, "# site users\nalice:$7$10$") || !strings.Contains(out, "\n\nbob:$7$") || strings.Contains(out, "s3cret") {
		t.Errorf("output:\n%s", out)
	}
	if _, err := Parse("out", f.Bytes()); err != nil {
		t.Errorf("output does not parse: %v", err)
	}
}

func TestParsePlainErrors(t *testing.T) {
	tests := []struct {
		name, data, wantPos string
		want                error
	}{
		{"sha512 hash", "a:x\nb:" + vecSHA512Salt12 + "\n", "plain:2:", ErrAlreadyHashed},
		{"pbkdf2 hash", "b:" + vecPBKDF2Salt12 + "\n", "plain:1:", ErrAlreadyHashed},
		{"argon2id hash", "b:" + vecArgon2idReference + "\n", "plain:1:", ErrAlreadyHashed},
		{"empty password", "a:x\nb:\n", "plain:2:", ErrEmptyPassword},
		{"duplicate", "a:x\na:y\n", "plain:2:", ErrDuplicateUser},
		{"bad name", "#ok\n #a:x\n", "plain:2:", nil},
		{"no colon", "a:x\nb\n", "plain:2:", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePlain("plain", []byte(tt.data), cheap)
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantPos) {
				t.Fatalf("err = %v, want one at %s", err, tt.wantPos)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
