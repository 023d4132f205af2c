package config

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

// Error is one problem in a configuration, printed as
// "gridmq.yaml:7: max_qos: must be 0, 1 or 2 (got 3)".
type Error struct {
	File string // the name given to Parse or Load; "" for a value given to Set
	Line int    // 1-based; 0 when unknown
	// Key is the key whose value is wrong ("max_qos", "listener.port"); ""
	// when the key itself is wrong (unknown, given twice) or the YAML is.
	Key string
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads the YAML file at path; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes a YAML configuration strictly: an unknown key, a key given
// twice, a value of the wrong type or out of range is an error. Every key the
// data does not give keeps its Default value; a "listener" key replaces the
// default listener. Empty data is the default configuration. name is used in
// errors only. All problems found are returned together (errors.Join), each an
// *Error.
func Parse(name string, data []byte) (*Config, error) {
	p := &parser{file: name}
	c := Default()
	root := p.document(data)
	if root != nil {
		p.config(c, root)
	}
	switch len(p.errs) {
	case 0:
		return c, nil
	case 1:
		return nil, p.errs[0]
	default:
		return nil, errors.Join(p.errs...)
	}
}

// parser collects the errors of one file.
type parser struct {
	file string
	errs []error
}

func (p *parser) fail(line int, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// yamlLine splits yaml.v3's "yaml: line 3: <message>" syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document returns the top-level mapping of data, or nil when data holds
// nothing (empty, only comments, or a null document) or is malformed.
func (p *parser) document(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) {
			p.syntax(err)
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		p.fail(next.Line, "", "a second YAML document; a configuration file holds one")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
		return nil
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := resolve(doc.Content[0])
	switch {
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		return nil
	case root.Kind == yaml.ScalarNode:
		// A mosquitto.conf line such as "max_qos 1" reads as one long string.
		p.fail(root.Line, "", "want keys and values such as \"max_qos: 1\"; mosquitto.conf lines need a colon after the key (see docs/configuration.md)")
		return nil
	case root.Kind != yaml.MappingNode:
		p.fail(root.Line, "", "want keys and values such as \"max_qos: 1\" at the top level (got %s)", describe(root))
		return nil
	}
	return root
}

func (p *parser) syntax(err error) {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.fail(line, "", "%s", m[2])
		return
	}
	p.fail(0, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// entries walks mapping m, reporting keys that are not plain names and keys
// given twice, and calls f for every other key with its value, aliases
// resolved. where prefixes keys in messages ("" or "listener.").
func (p *parser) entries(m *yaml.Node, where string, f func(key, value *yaml.Node)) {
	first := make(map[string]int)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := resolve(m.Content[i]), resolve(m.Content[i+1])
		switch {
		case k.Kind != yaml.ScalarNode:
			p.fail(k.Line, "", "keys must be plain names (got %s)", describe(k))
			continue
		case k.Tag == "!!merge":
			p.fail(k.Line, "", "merge keys (<<) are not supported; write the keys out")
			continue
		}
		if line, dup := first[k.Value]; dup {
			p.fail(k.Line, "", "duplicate key %q (first at line %d)", where+k.Value, line)
			continue
		}
		first[k.Value] = k.Line
		f(k, v)
	}
}

func (p *parser) config(c *Config, m *yaml.Node) {
	p.entries(m, "", func(k, v *yaml.Node) {
		name := k.Value
		if name == "listener" {
			p.listeners(c, k, v)
			return
		}
		def := lookup(name)
		if def == nil {
			p.unknown(k.Line, "", name, unsupported, renamed)
			return
		}
		if err := def.decode(c, v); err != nil {
			p.fail(valueLine(k, v), name, "%v", err)
		}
	})
}

// unknown reports a key gridmq does not have, saying so plainly when it is a
// Mosquitto key not implemented yet, or one gridmq spells differently.
func (p *parser) unknown(line int, where, name string, notYet, other map[string]string) {
	if hint, ok := notYet[name]; ok {
		if hint != "" {
			hint = " (" + hint + ")"
		}
		p.fail(line, "", "%q is not supported yet%s", where+name, hint)
		return
	}
	if hint, ok := other[name]; ok {
		p.fail(line, "", "unknown key %q (%s)", where+name, hint)
		return
	}
	p.fail(line, "", "unknown key %q", where+name)
}

const listenerShape = "a list such as [{port: 20200, bind_address: 0.0.0.0}]"

func (p *parser) listeners(c *Config, k, v *yaml.Node) {
	if v.Kind != yaml.SequenceNode {
		if isNull(v) {
			p.fail(k.Line, "listener", "needs a value: %s", listenerShape)
		} else {
			p.fail(v.Line, "listener", "must be %s (got %s)", listenerShape, describe(v))
		}
		return
	}
	if len(v.Content) == 0 {
		p.fail(v.Line, "listener", "needs at least one listener: %s", listenerShape)
		return
	}
	var ls []Listener
	for _, item := range v.Content {
		item = resolve(item)
		if item.Kind != yaml.MappingNode {
			p.fail(item.Line, "listener", "each listener must be a mapping such as {port: 20200, bind_address: 0.0.0.0} (got %s)", describe(item))
			continue
		}
		l, ok := p.listener(item)
		if ok {
			ls = append(ls, l)
		}
	}
	c.Listeners = ls
	c.DefaultListener = false
}

func (p *parser) listener(m *yaml.Node) (Listener, bool) {
	var l Listener
	ok, hasPort := true, false
	p.entries(m, "listener.", func(k, v *yaml.Node) {
		var err error
		switch k.Value {
		case "port":
			hasPort = true
			var port int64
			port, err = intValue(v, 0, 65535, rangePort)
			l.Port = int(port)
		case "bind_address":
			l.BindAddress, err = stringValue(v)
			if err == nil {
				if msg := checkBindAddress(l.BindAddress); msg != "" {
					err = errors.New(msg)
				}
			}
		case "allow_anonymous":
			var b bool
			b, err = boolValue(v)
			l.AllowAnonymous = &b
		default:
			ok = false
			p.unknown(k.Line, "listener.", k.Value, listenerUnsupported, listenerRenamed)
			return
		}
		if err != nil {
			ok = false
			p.fail(valueLine(k, v), "listener."+k.Value, "%v", err)
		}
	})
	if !hasPort {
		ok = false
		p.fail(m.Line, "listener", "port is required")
	}
	return l, ok
}

// valueLine is where a value's error is reported: the value's own line, or
// the key's when the value is missing.
func valueLine(k, v *yaml.Node) int {
	if isNull(v) {
		return k.Line
	}
	return v.Line
}

// resolve follows an alias (*name) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// unsupported are Mosquitto keys gridmq does not implement yet, with what to
// do meanwhile. They are errors, not warnings: a broker that silently ignored
// password_file would be open to anyone.
var unsupported = map[string]string{
	"psk_file":              "TLS",
	"plugin":                "",
	"auth_plugin":           "",
	"per_listener_settings": "allow_anonymous can be set per listener already",
	"log_dest":              "gridmq logs to standard error",
	"log_type":              "gridmq logs to standard error",
	"connection_messages":   "",
	"include_dir":           "",
	"pid_file":              "leave it to the service manager",
	"user":                  "leave it to the service manager",
	"connection":            "bridges",
	"certfile":              "TLS",
	"keyfile":               "TLS",
	"cafile":                "TLS",
	"max_connections":       "",
}

// renamed are Mosquitto keys whose meaning gridmq has under another name.
var renamed = map[string]string{
	"port":         "use listener: [{port: 20200}]",
	"bind_address": "use listener: [{port: 20200, bind_address: 0.0.0.0}]",
	"maximum_qos":  "gridmq spells it max_qos",
	// Mosquitto snapshots memory to one file; gridmq writes each change to
	// its data dir before acknowledging it.
	"persistence_location": "gridmq spells it data_dir",
	"persistence_file":     "gridmq keeps a directory: data_dir",
	"autosave_interval":    "gridmq writes every change to data_dir before acknowledging it; see durability",
}

var listenerUnsupported = map[string]string{
	"protocol":        "MQTT over TCP only",
	"certfile":        "TLS",
	"keyfile":         "TLS",
	"cafile":          "TLS",
	"max_connections": "",
	"mount_point":     "",
	"bind_interface":  "use bind_address",
	"socket_domain":   "use an IPv4 or IPv6 bind_address",
}

var listenerRenamed = map[string]string{
	"max_qos":     "max_qos is a top-level key in gridmq",
	"maximum_qos": "max_qos is a top-level key in gridmq",
}
