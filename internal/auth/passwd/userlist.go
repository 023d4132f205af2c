package passwd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrBadUserList is carried by every *ParseError of ParseUserList.
var ErrBadUserList = errors.New("invalid user list")

// UserList is the declarative list of users a password file is made to match by PlanSync,
// read from YAML such as:
//
//	users:
//	  - name: smc
//	    password: secret            # plain text, or
//	  - name: site7
//	    password_hash: "$7$101$..."  # a hash, copied verbatim
type UserList struct {
	Users []ListedUser
}

// ListedUser is one entry of a UserList. Exactly one of Password and PasswordHash is set.
type ListedUser struct {
	Name         string
	Password     string // plain text
	PasswordHash string // an encoded hash in one of the formats Parse reads
	Line         int    // where the entry starts in its file; 0 if not read from one
}

// LoadUserList reads the user list at path; see ParseUserList.
func LoadUserList(path string) (*UserList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseUserList(path, data)
}

// ParseUserList decodes a user list strictly: an unknown key, a key given twice, a user
// listed twice, an entry without a name or with both or neither of password and
// password_hash, and a hash that does not decode are errors, each a *ParseError naming
// name:line that wraps ErrBadUserList, all returned together. An empty document is an error
// too, so that a truncated file cannot remove every user; "users: []" says that on purpose.
// Messages never quote a password or a hash.
func ParseUserList(name string, data []byte) (*UserList, error) {
	p := &listParser{file: name}
	list := p.parse(data)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return list, nil
}

type listParser struct {
	file string
	errs []error
}

func (p *listParser) fail(line int, format string, args ...any) {
	p.errs = append(p.errs, &ParseError{p.file, line, fmt.Errorf("%w: %s", ErrBadUserList, fmt.Sprintf(format, args...))})
}

// yamlLine splits yaml.v3's "yaml: line 3: <message>" syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (p *listParser) parse(data []byte) *UserList {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.fail(1, `empty; write "users: []" to remove every user`)
		} else {
			p.syntax(err)
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		p.fail(next.Line, "a second YAML document; a user list holds one")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.fail(root.Line, `want the key "users" at the top level (got %s)`, describe(root))
		return nil
	}
	list := &UserList{Users: []ListedUser{}}
	var users *yaml.Node
	p.entries(root, func(k, v *yaml.Node) {
		if k.Value != "users" {
			p.fail(k.Line, `unknown key %q (want "users")`, k.Value)
			return
		}
		users = v
	})
	switch {
	case users == nil:
		if len(p.errs) == 0 {
			p.fail(root.Line, `no "users" key; write "users: []" to remove every user`)
		}
		return nil
	case users.Kind != yaml.SequenceNode:
		p.fail(users.Line, "users: want a list of entries with name and password or password_hash (got %s)", describe(users))
		return nil
	}
	first := make(map[string]int)
	for _, item := range users.Content {
		u, ok := p.user(resolve(item))
		if !ok {
			continue
		}
		if line, dup := first[u.Name]; dup {
			p.fail(u.Line, "%v: %q (first at line %d)", ErrDuplicateUser, u.Name, line)
			continue
		}
		first[u.Name] = u.Line
		list.Users = append(list.Users, u)
	}
	return list
}

func (p *listParser) user(m *yaml.Node) (ListedUser, bool) {
	u := ListedUser{Line: m.Line}
	if m.Kind != yaml.MappingNode {
		p.fail(m.Line, "want an entry with name and password or password_hash (got %s)", describe(m))
		return u, false
	}
	ok := true
	var hasPassword, hasHash bool
	hashLine := 0
	p.entries(m, func(k, v *yaml.Node) {
		s, isText := text(v)
		if !isText {
			p.fail(v.Line, "%s: want text (got %s)", k.Value, describe(v))
			ok = false
			return
		}
		switch k.Value {
		case "name":
			u.Name = s
		case "password":
			u.Password, hasPassword = s, true
		case "password_hash":
			u.PasswordHash, hasHash, hashLine = s, true, v.Line
		default:
			p.fail(k.Line, "unknown key %q (want name, password or password_hash)", k.Value)
			ok = false
		}
	})
	if !ok {
		return u, false
	}
	switch {
	case u.Name == "":
		p.fail(m.Line, "entry without a name")
		return u, false
	case hasPassword && hasHash:
		p.fail(m.Line, "user %q: give password or password_hash, not both", u.Name)
		return u, false
	case !hasPassword && !hasHash:
		p.fail(m.Line, "user %q: needs password or password_hash", u.Name)
		return u, false
	case hasPassword && u.Password == "":
		p.fail(m.Line, "user %q: %v", u.Name, ErrEmptyPassword)
		return u, false
	}
	if err := checkUsername(u.Name); err != nil {
		p.fail(m.Line, "%v", err)
		return u, false
	}
	if hasHash {
		if _, err := decodeHash(u.PasswordHash); err != nil {
			p.fail(hashLine, "user %q: password_hash: %v", u.Name, err)
			return u, false
		}
	}
	return u, true
}

// entries walks mapping m, reporting keys that are not plain names and keys given twice,
// and calls f for every other key with its value, aliases resolved.
func (p *listParser) entries(m *yaml.Node, f func(key, value *yaml.Node)) {
	first := make(map[string]int)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), resolve(m.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			p.fail(k.Line, "keys must be plain names (got %s)", describe(k))
			continue
		}
		if line, dup := first[k.Value]; dup {
			p.fail(k.Line, "duplicate key %q (first at line %d)", k.Value, line)
			continue
		}
		first[k.Value] = k.Line
		f(k, v)
	}
}

func (p *listParser) syntax(err error) {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.fail(line, "%s", m[2])
		return
	}
	p.fail(0, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// text returns a scalar's text as written, so that "name: 007" is the user "007" and
// "password: 123456" the password "123456", not numbers.
func text(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "keys and values"
	case n.Tag == "!!null":
		return "nothing"
	}
	return "a single value"
}
