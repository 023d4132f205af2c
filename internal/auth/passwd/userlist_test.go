package passwd

import (
	"errors"
	"strings"
	"testing"
)

func TestParseUserList(t *testing.T) {
	list := mustList(t, `# declared by the site
users:
  - name: smc
    password: secret
  - name: "007"
    password: 123456
  - {name: site7, password_hash: "`+vecMosquitto2011+`"}
`)
	want := []ListedUser{
		{Name: "smc", Password: "secret", Line: 3},
		{Name: "007", Password: "123456", Line: 5},
		{Name: "site7", PasswordHash: vecMosquitto2011, Line: 7},
	}
	if len(list.Users) != len(want) {
		t.Fatalf("users = %+v", list.Users)
	}
	for i := range want {
		if list.Users[i] != want[i] {
			t.Errorf("user %d = %+v, want %+v", i, list.Users[i], want[i])
		}
	}
	if l := mustList(t, "users: []\n"); l.Users == nil || len(l.Users) != 0 {
		t.Errorf("users: [] = %+v, want an empty list", l.Users)
	}
}

func TestParseUserListErrors(t *testing.T) {
	tests := []struct {
		name, data string
		want       []string // each must appear in the error
	}{
		{"empty file", "", []string{"users.yaml:1:", "users: []"}},
		{"only comments", "# nothing\n", []string{"users.yaml:1:", "users: []"}},
		{"no users key", "# c\nuser: []\n", []string{`users.yaml:2: invalid user list: unknown key "user"`}},
		{"users null", "users:\n", []string{"users.yaml:1:", "got nothing"}},
		{"users not a list", "users: smc\n", []string{"users.yaml:1:", "want a list"}},
		{"top level list", "- name: a\n", []string{"users.yaml:1:", `"users"`}},
		{"unknown key", "users:\n  - name: a\n    password: x\n    pasword: y\n", []string{`users.yaml:4: invalid user list: unknown key "pasword"`}},
		{"duplicate key", "users:\n  - name: a\n    password: x\n    password: y\n", []string{`users.yaml:4:`, `duplicate key "password" (first at line 3)`}},
		{"duplicate user", "users:\n  - name: a\n    password: x\n  - name: a\n    password: y\n", []string{`users.yaml:4:`, `user appears twice: "a" (first at line 2)`}},
		{"no name", "users:\n  - password: x\n", []string{"users.yaml:2:", "without a name"}},
		{"no password", "users:\n  - name: a\n", []string{"users.yaml:2:", "needs password or password_hash"}},
		{"both", "users:\n  - name: a\n    password: x\n    password_hash: \"" + vecSHA512Salt12 + "\"\n", []string{"users.yaml:2:", "not both"}},
		{"empty password", "users:\n  - name: a\n    password: \"\"\n", []string{"users.yaml:2:", "empty password"}},
		{"null password", "users:\n  - name: a\n    password:\n", []string{"users.yaml:3:", "password: want text"}},
		{"list password", "users:\n  - name: a\n    password: [x]\n", []string{"users.yaml:3:", "want text (got a list)"}},
		{"bad name", "users:\n  - name: \"a:b\"\n    password: x\n", []string{"users.yaml:2:", "invalid username"}},
		{"plain hash", "users:\n  - name: a\n    password_hash: hunter2\n", []string{"users.yaml:3:", "unsupported or malformed password hash"}},
		{"syntax", "users:\n  - name: a\n   password: x\n", []string{"users.yaml:1:", "did not find expected '-' indicator"}},
		{"two documents", "users: []\n---\nusers: []\n", []string{"users.yaml:2:", "second YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUserList("users.yaml", []byte(tt.data))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrBadUserList) {
				t.Errorf("error %q does not wrap ErrBadUserList", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}

	// Every mistake is reported, and no secret is quoted.
	_, err := ParseUserList("users.yaml", []byte("users:\n  - name: a\n    password: topsecret\n    extra: 1\n  - name: b\n    password_hash: \"$7$1$AAAA$BBBB\"\n"))
	if err == nil || !strings.Contains(err.Error(), "users.yaml:4:") || !strings.Contains(err.Error(), "users.yaml:6:") {
		t.Fatalf("err = %v, want errors at lines 4 and 6", err)
	}
	if strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "AAAA") {
		t.Errorf("error quotes a secret: %q", err)
	}
}
