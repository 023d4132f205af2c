package acl

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// client is who asks; anon means no username in CONNECT.
type client struct {
	id, user string
	anon     bool
}

var (
	anon  = client{id: "c-anon", anon: true}
	roger = client{id: "c-roger", user: "roger"}
)

type check struct {
	who    client
	access Access
	topic  string
	want   bool
}

func runChecks(t *testing.T, name, file string, checks []check) {
	t.Helper()
	r, err := Parse(name, []byte(file))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, c := range checks {
		got := r.Allowed(c.who.id, c.who.user, c.who.anon, c.access, c.topic)
		if got != c.want {
			t.Errorf("%s: Allowed(id=%q user=%q anon=%v, %v, %q) = %v, want %v",
				name, c.who.id, c.who.user, c.who.anon, c.access, c.topic, got, c.want)
		}
	}
}

// aclfile.example as shipped with Mosquitto.
const aclfileExample = `# This affects access control for clients with no username.
topic read $SYS/#

# This only affects clients with username "roger".
user roger
topic foo/bar

# This affects all clients.
pattern write $SYS/broker/connection/%c/state
`

func TestAclfileExample(t *testing.T) {
	bridge := client{id: "bridge1", user: "someone"}
	runChecks(t, "aclfile.example", aclfileExample, []check{
		{anon, Read, "$SYS/broker/uptime", true},
		{anon, Subscribe, "$SYS/#", true},
		{anon, Subscribe, "$SYS/broker/+", true},
		{anon, Write, "$SYS/broker/uptime", false},
		{anon, Read, "foo/bar", false},
		{anon, Write, "foo/bar", false},
		{roger, Read, "foo/bar", true},
		{roger, Write, "foo/bar", true},
		{roger, Subscribe, "foo/bar", true},
		{roger, Subscribe, "foo/+", false},
		{roger, Read, "foo/baz", false},
		{roger, Read, "$SYS/broker/uptime", false}, // anonymous rules are not roger's
		{roger, Write, "$SYS/broker/connection/c-roger/state", true},
		{roger, Write, "$SYS/broker/connection/other/state", false},
		{roger, Read, "$SYS/broker/connection/c-roger/state", false},
		{anon, Write, "$SYS/broker/connection/c-anon/state", true}, // %c needs no username
		{bridge, Write, "$SYS/broker/connection/bridge1/state", true},
		{bridge, Read, "foo/bar", false}, // no user block, patterns only
		{client{id: "br+", user: "x"}, Write, "$SYS/broker/connection/br+/state", false},
	})
}

// The examples of the acl_file section of mosquitto.conf(5), Mosquitto 2.0.
func TestManPageExamples(t *testing.T) {
	alice := client{id: "c1", user: "alice"}
	runChecks(t, "man", `topic foo/bar
topic read  a/b
topic write a/c
topic readwrite a/d
topic deny a/#
pattern write sensor/%u/data
pattern write $SYS/broker/connection/%c/state
`, []check{
		// "If not given then the access is read/write."
		{anon, Read, "foo/bar", true},
		{anon, Write, "foo/bar", true},
		// deny is handled before read/write grants: a/# hides a/b..a/d.
		{anon, Read, "a/b", false},
		{anon, Write, "a/c", false},
		{anon, Read, "a/d", false},
		// "pattern write sensor/%u/data"
		{alice, Write, "sensor/alice/data", true},
		{alice, Read, "sensor/alice/data", false},
		{alice, Write, "sensor/bob/data", false},
		{anon, Write, "sensor/%u/data", false}, // %u patterns skip anonymous clients
		{client{id: "c1", user: ""}, Write, "sensor//data", true},
		// "pattern write $SYS/broker/connection/%c/state"
		{alice, Write, "$SYS/broker/connection/c1/state", true},
		{alice, Write, "$SYS/broker/connection/c2/state", false},
	})
}

func TestDenyPrecedence(t *testing.T) {
	bob := client{id: "b", user: "bob"}
	carol := client{id: "c", user: "carol"}
	runChecks(t, "deny", `topic read #
topic deny secret/#
user bob
topic readwrite #
topic write private/bob
topic deny private/#
pattern deny %u/locked
pattern readwrite home/%u/#
`, []check{
		{anon, Read, "news", true},
		{anon, Read, "secret/x", false},
		{anon, Read, "secret", false},      // "secret/#" matches its parent
		{bob, Write, "private/bob", false}, // deny wins whatever the order in the file
		{bob, Write, "public", true},
		// The user's own allow is decided before any pattern is looked at,
		// as in mosquitto_acl_check_default: a deny pattern does not take it back.
		{bob, Write, "bob/locked", true},
		{carol, Write, "carol/locked", false},
		{carol, Write, "home/carol/lamp", true},
		{carol, Read, "home/carol", true},
		{carol, Read, "home/dave/lamp", false},
		{carol, Read, "news", false},
		{carol, Subscribe, "home/carol/#", true},
		{carol, Subscribe, "home/+/lamp", false},
		{bob, Subscribe, "#", true},
		{bob, Subscribe, "private/#", false}, // covered whole by a deny rule
		{bob, Subscribe, "private/+", false},
		{anon, Subscribe, "#", true},           // overlap with a deny: Read filters delivery
		{anon, Subscribe, "secret/+/x", false}, // inside the deny
	})
}

func TestAnonymous(t *testing.T) {
	// No topic before the first user line: anonymous clients get nothing.
	runChecks(t, "noanon", "user u\ntopic #\n", []check{
		{anon, Read, "a", false},
		{client{id: "x", user: "u"}, Read, "a", true},
		{client{id: "x", user: ""}, Read, "a", false}, // an empty username is not anonymous
	})
	// Anonymous rules do not apply to logged-in users without a block.
	runChecks(t, "anon", "topic a\nuser u\ntopic b\n", []check{
		{anon, Write, "a", true},
		{anon, Write, "b", false},
		{client{id: "x", user: "v"}, Write, "a", false},
		{client{id: "x", user: "u"}, Write, "a", false},
		{client{id: "x", user: "u"}, Write, "b", true},
		// username is ignored for anonymous clients
		{client{id: "x", user: "u", anon: true}, Write, "b", false},
	})
	// A user's rules accumulate over several blocks.
	runChecks(t, "repeat", "user u\ntopic a\nuser v\ntopic b\nuser u\ntopic c\n", []check{
		{client{id: "x", user: "u"}, Write, "a", true},
		{client{id: "x", user: "u"}, Write, "c", true},
		{client{id: "x", user: "u"}, Write, "b", false},
	})
}

func TestSubstitution(t *testing.T) {
	file := "pattern readwrite c/%c/#\npattern read u/%u\npattern read x/dev_%c\npattern read p/%%c\n"
	runChecks(t, "subst", file, []check{
		{client{id: "id1", user: "u1"}, Write, "c/id1/a", true},
		{client{id: "id1", user: "u1"}, Write, "c/id2/a", false},
		{client{id: "id1", user: "u1"}, Read, "u/u1", true},
		{client{id: "id1", user: "u1"}, Read, "x/dev_id1", true}, // substituted inside a level too
		{client{id: "id1", user: "u1"}, Read, "p/%id1", true},    // a '%' not before c or u stays
		// '+' or '#' in the id or username: every pattern is refused (2.0: "+#").
		{client{id: "+", user: "u1"}, Write, "c/+/a", false},
		{client{id: "+", user: "u1"}, Read, "u/u1", false},
		{client{id: "#", user: "u1"}, Write, "c/x/a", false},
		{client{id: "id1", user: "a#"}, Write, "c/id1/a", false},
		{client{id: "id1", user: "a+b"}, Read, "u/a+b", false},
		// '/' is not refused by 2.0: it is substituted and spans levels.
		{client{id: "a/b", user: "u1"}, Write, "c/a/b/z", true},
		{client{id: "id1", user: "x/y"}, Read, "u/x/y", true},
		{client{id: "id1", user: "x/y"}, Read, "u/x", false},
		// An anonymous client's username is not substituted.
		{client{id: "id1", user: "u1", anon: true}, Read, "u/u1", false},
		{client{id: "id1", user: "u1", anon: true}, Write, "c/id1/a", true},
		// '+' in the username of an anonymous client does not matter.
		{client{id: "id1", user: "+", anon: true}, Write, "c/id1/a", true},
	})
}

func TestDollarTopics(t *testing.T) {
	admin := client{id: "a", user: "admin"}
	runChecks(t, "dollar", "topic readwrite #\ntopic read +/x\nuser admin\ntopic read $SYS/#\ntopic readwrite #\n", []check{
		{anon, Read, "a/b", true},
		{anon, Read, "", false}, // an empty name is never matched, not even by "#"
		{anon, Read, "$SYS/broker/uptime", false},
		{anon, Read, "$SYS/x", false},
		{anon, Write, "$share/g/t", false},
		{anon, Subscribe, "#", true},
		{anon, Subscribe, "$SYS/#", false},
		{admin, Read, "$SYS/broker/uptime", true},
		{admin, Write, "$SYS/broker/uptime", false},
		{admin, Subscribe, "$SYS/broker/+", true},
		{admin, Subscribe, "$SYS", true},
		{admin, Subscribe, "$share/g/$SYS/#", true},
		{admin, Subscribe, "$share/g/a/b", true},
	})
}

func TestReadWriteSubscribe(t *testing.T) {
	runChecks(t, "rws", "topic read r/#\ntopic write w/#\ntopic readwrite rw/+\n", []check{
		{anon, Read, "r/1", true},
		{anon, Write, "r/1", false},
		{anon, Subscribe, "r/#", true},
		{anon, Subscribe, "r/+/+", true},
		{anon, Read, "w/1", false},
		{anon, Write, "w/1", true},
		{anon, Subscribe, "w/1", false},
		{anon, Read, "rw/1", true},
		{anon, Write, "rw/1", true},
		{anon, Read, "rw/1/2", false},
		{anon, Subscribe, "rw/+", true},
		{anon, Subscribe, "rw/#", false},
		{anon, Read | Write, "rw/1", false}, // one access at a time
		{anon, 0, "rw/1", false},
	})
}

func TestSyntax(t *testing.T) {
	file := "  # indented comment\n\n \t\n" +
		"topic read a b/c d  \r\n" + // topic with spaces, trailing blanks trimmed
		"topic read\n" + // a single word is the topic: readwrite on "read"
		"topic   write   spaced\n" +
		"\ttopic\tdeny\tx\n" +
		"user  john smith  \n" +
		"topic mine\n"
	runChecks(t, "syntax", file, []check{
		{anon, Read, "a b/c d", true},
		{anon, Write, "a b/c d", false},
		{anon, Write, "read", true},
		{anon, Write, "spaced", true},
		{anon, Read, "spaced", false},
		{anon, Read, "x", false},
		{client{id: "j", user: "john smith"}, Write, "mine", true},
	})
	r, err := Parse("empty", nil)
	if err != nil || r.Allowed("c", "u", false, Read, "a") {
		t.Errorf("empty file: err %v; want nothing allowed", err)
	}
	var nilRules *Rules
	if nilRules.Allowed("c", "u", false, Read, "a") || nilRules.CanSubscribe("c", "u", false, "a") {
		t.Error("nil Rules allowed access")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		file string
		line int
		err  error
	}{
		{"topic a\ntopik b\n", 2, ErrUnknownKeyword},
		{"# x\n\nuser\n", 3, ErrMissingUser},
		{"user   \n", 1, ErrMissingUser},
		{"topic\n", 1, ErrMissingTopic},
		{"pattern   \n", 1, ErrMissingTopic},
		{"topic foo bar\n", 1, ErrBadAccess},
		{"topic Read a\n", 1, ErrBadAccess},
		{"topic read a#\n", 1, ErrInvalidTopic},
		{"topic a/#/b\n", 1, ErrInvalidTopic},
		{"a\n", 1, ErrUnknownKeyword},
		{"pattern read a/+%c\n", 1, ErrInvalidTopic},
		{"user u\ntopic read a\ntopic write \x00\n", 3, ErrInvalidTopic},
	}
	for _, tt := range tests {
		_, err := Parse("test.acl", []byte(tt.file))
		if !errors.Is(err, tt.err) {
			t.Errorf("Parse(%q) = %v, want %v", tt.file, err, tt.err)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != tt.line || pe.File != "test.acl" {
			t.Errorf("Parse(%q) = %#v, want line %d", tt.file, err, tt.line)
		}
		if prefix := fmt.Sprintf("test.acl:%d: ", tt.line); !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("Parse(%q) error %q does not start with %q", tt.file, err, prefix)
		}
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl")
	if err := os.WriteFile(path, []byte(aclfileExample), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Allowed("c", "roger", false, Write, "foo/bar") {
		t.Error("roger may not write foo/bar")
	}
	if err := os.WriteFile(path, []byte("topic a\nbogus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), path+":2: ") {
		t.Errorf("Load bad file: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load missing file: %v", err)
	}
}

// TestCoversAgreesWithMatch: for a topic name (no wildcards), "covers" and
// "matches" are the same relation.
func TestCoversAgreesWithMatch(t *testing.T) {
	filters := []string{"#", "+", "a", "a/#", "a/+", "+/b", "a/+/#", "$SYS/#", "+/+", "/", "/#", "a//b", "$x"}
	names := []string{"a", "a/b", "a/b/c", "b", "", "/", "$SYS", "$SYS/a", "a//b", "/a", "$x"}
	for _, f := range filters {
		for _, n := range names {
			if c, m := covers(f, n), matchTopic(f, n); c != m {
				t.Errorf("covers(%q, %q) = %v, matchTopic = %v", f, n, c, m)
			}
			if b, m := matchTopicBytes([]byte(f), n), matchTopic(f, n); b != m {
				t.Errorf("matchTopicBytes(%q, %q) = %v, matchTopic = %v", f, n, b, m)
			}
		}
	}
	for _, tt := range []struct {
		rule, filter string
		want         bool
	}{
		{"a/#", "a", true},
		{"a/+/#", "a", false},
		{"a/+/#", "a/+", true},
		{"a/+", "a/#", false},
		{"+", "+", true},
		{"a", "+", false},
		{"#", "$SYS/#", false},
		{"$SYS/#", "$SYS/+/x", true},
	} {
		if got := covers(tt.rule, tt.filter); got != tt.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tt.rule, tt.filter, got, tt.want)
		}
	}
}

// TestAllowedRandom: arbitrary bytes as topic, id and username never panic.
func TestAllowedRandom(t *testing.T) {
	r, err := Parse("rand", []byte("topic read #\ntopic deny a/+/#\nuser u\ntopic $SYS/#\n"+
		"pattern readwrite %c/%u/#\npattern deny +/%c\npattern read x%u%c/+\n"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab/+#$%cu\x00\xff "
	str := func() string {
		b := make([]byte, rng.IntN(400)) // longer than the substitution buffer too
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		id, user, name := str(), str(), str()
		anonymous := rng.IntN(2) == 0
		for _, a := range []Access{Read, Write, Subscribe, Read | Write} {
			r.Allowed(id, user, anonymous, a, name)
		}
		r.CanSubscribe(id, user, anonymous, name)
	}
}

func TestAllowedAllocs(t *testing.T) {
	r := benchRules(t)
	for _, c := range []struct {
		user   string
		access Access
		topic  string
	}{
		{"user500", Write, "user500/r9/x"},  // last rule of the block
		{"user500", Read, "home/c500/lamp"}, // a pattern
		{"nobody", Read, "nothing"},         // every pattern, then deny
	} {
		allocs := testing.AllocsPerRun(100, func() {
			r.Allowed("c500", c.user, false, c.access, c.topic)
		})
		if allocs != 0 {
			t.Errorf("Allowed(%q, %v, %q): %v allocs per check, want 0", c.user, c.access, c.topic, allocs)
		}
	}
}

func benchRules(tb testing.TB) *Rules {
	var b strings.Builder
	b.WriteString("topic read public/#\n")
	for u := range 1000 {
		fmt.Fprintf(&b, "user user%d\n", u)
		for j := range 9 {
			fmt.Fprintf(&b, "topic readwrite user%d/r%d/#\n", u, j)
		}
		fmt.Fprintf(&b, "topic deny user%d/secret/#\n", u)
	}
	b.WriteString("pattern readwrite home/%c/#\npattern read users/%u/+\npattern deny %c/deny\n")
	r, err := Parse("bench", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func BenchmarkAllowed(b *testing.B) {
	r := benchRules(b)
	b.Run("user-rule", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !r.Allowed("c500", "user500", false, Write, "user500/r8/sensor/temp") {
				b.Fatal("denied")
			}
		}
	})
	b.Run("pattern", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !r.Allowed("c500", "user500", false, Read, "home/c500/lamp") {
				b.Fatal("denied")
			}
		}
	})
	b.Run("denied", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if r.Allowed("c500", "user500", false, Write, "elsewhere/x/y") {
				b.Fatal("allowed")
			}
		}
	})
}
