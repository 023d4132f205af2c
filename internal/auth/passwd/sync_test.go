package passwd

import (
	"slices"
	"strings"
	"testing"
)

func diff(changes []Change) []string {
	lines := make([]string, len(changes))
	for i, c := range changes {
		lines[i] = c.String()
	}
	return lines
}

func mustList(t *testing.T, yaml string) *UserList {
	t.Helper()
	list, err := ParseUserList("users.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestPlanSync(t *testing.T) {
	f, err := Parse("pw", []byte("# site file\nold:"+vecSHA512Salt12+"\nsmc:"+vecPBKDF2Salt12+"\nkeep:"+vecPBKDF2Salt64+"\nsite7:"+vecSHA512Salt64+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	before := string(f.Bytes())
	list := mustList(t, `users:
  - name: smc
    password: new-secret
  - name: keep
    password: hunter2
  - name: site7
    password_hash: "`+vecMosquitto2011+`"
  - name: fresh
    password: pw-fresh
  - name: copied
    password_hash: "`+vecPBKDF2Salt12+`"
`)
	changes, err := PlanSync(f, list)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"- old", "~ smc (password changed)", "~ site7 (password changed)", "+ fresh", "+ copied"}
	if got := diff(changes); !slices.Equal(got, want) {
		t.Fatalf("plan = %q, want %q", got, want)
	}
	if string(f.Bytes()) != before {
		t.Fatal("PlanSync modified the file")
	}
	for _, c := range changes {
		if s := c.String(); strings.Contains(s, "secret") || strings.Contains(s, "$") {
			t.Errorf("change %q shows a password or hash", s)
		}
	}

	if err := f.ApplySync(changes, cheap); err != nil {
		t.Fatal(err)
	}
	if got := f.Users(); !slices.Equal(got, []string{"smc", "keep", "site7", "fresh", "copied"}) {
		t.Errorf("users after sync = %q", got)
	}
	if !strings.HasPrefix(string(f.Bytes()), "# site file\n") {
		t.Error("comment lost")
	}
	checks := []struct {
		user, password string
		want           bool
	}{
		{"smc", "new-secret", true},
		{"smc", "hunter2", false},
		{"keep", "hunter2", true},
		{"site7", "s3cret", true},
		{"fresh", "pw-fresh", true},
		{"copied", "hunter2", true},
		{"old", "hunter2", false},
	}
	for _, c := range checks {
		if got := f.Verify(c.user, c.password); got != c.want {
			t.Errorf("Verify(%q, %q) = %v, want %v", c.user, c.password, got, c.want)
		}
	}
	if f.lookup("keep").encoded != vecPBKDF2Salt64 {
		t.Error("a user whose password verified was hashed again")
	}
	if f.lookup("site7").encoded != vecMosquitto2011 || f.lookup("copied").encoded != vecPBKDF2Salt12 {
		t.Error("password_hash not copied verbatim")
	}

	// Idempotence: the file now matches, so a second plan is empty and nothing is re-hashed.
	again, err := PlanSync(f, list)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("second plan = %q, want nothing", diff(again))
	}
}

func TestPlanSyncEmpty(t *testing.T) {
	f, err := Parse("pw", []byte("a:"+vecSHA512Salt12+"\nb:"+vecPBKDF2Salt12+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	changes, err := PlanSync(f, mustList(t, "users: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := diff(changes); !slices.Equal(got, []string{"- a", "- b"}) {
		t.Fatalf("plan = %q", got)
	}
	if err := f.ApplySync(changes, cheap); err != nil || len(f.Users()) != 0 {
		t.Fatalf("after apply: %q, %v", f.Users(), err)
	}

	changes, err = PlanSync(New(), mustList(t, "users: []\n"))
	if err != nil || len(changes) != 0 {
		t.Fatalf("empty file, empty list: %q, %v", diff(changes), err)
	}
}

// A UserList built in code is checked as strictly as one read from YAML.
func TestPlanSyncChecksList(t *testing.T) {
	bad := []UserList{
		{Users: []ListedUser{{Name: "a", Password: "x"}, {Name: "a", Password: "y"}}},
		{Users: []ListedUser{{Name: "a:b", Password: "x"}}},
		{Users: []ListedUser{{Name: "a"}}},
		{Users: []ListedUser{{Name: "a", Password: "x", PasswordHash: vecSHA512Salt12}}},
		{Users: []ListedUser{{Name: "a", PasswordHash: "plain"}}},
	}
	for _, list := range bad {
		if _, err := PlanSync(New(), &list); err == nil {
			t.Errorf("PlanSync(%+v) succeeded", list.Users)
		}
	}
}
