package interop

// Authentication against the real binary: password_file, the standard user
// (mqtt_username, mqtt_password), live reloads of the password and ACL files,
// failed-login backoff, auth_fail_delay, and password files shared with
// Debian's mosquitto and mosquitto_passwd. The ACL rules themselves are in
// auth_acl_test.go. Each test runs its own broker on a configuration file in
// its own temporary directory.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// CONNACK codes of the authentication tests: the MQTT 3.1.1 return codes
// (table 3.1, the same in 3.1) and the MQTT 5.0 reason codes (3.2.2.2).
const (
	v3ServerUnavailable byte = 3 // gridmq's answer while a login backs off
	v3BadCredentials    byte = 4 // bad user name or password
	v3NotAuthorized     byte = 5

	v5ReasonBadCredentials      byte = 0x86 // Bad User Name or Password
	v5ReasonConnectionRateLimit byte = 0x9F // Connection rate exceeded
)

const (
	// reloadedMsg and refusedMsg are what the broker logs after reading the
	// password and ACL files again, and after refusing to.
	reloadedMsg = `msg="reloaded password and ACL files"`
	refusedMsg  = `msg="reload refused; the previous users and rules stay in force"`
	// authWaitFor bounds every wait for something that must happen: long,
	// so that a slow machine does not fail a test.
	authWaitFor = 10 * time.Second
)

// authVersion is a protocol version as the raw CONNECT spells it.
type authVersion struct {
	Name      string
	ProtoName string // "MQIsdp" for 3.1, "MQTT" after (3.1.2.1)
	Level     byte
}

var (
	authV31  = authVersion{"3.1", "MQIsdp", 3}
	authV311 = authVersion{"3.1.1", "MQTT", level311}
	authV5   = authVersion{"5.0", "MQTT", level5}
)

// writeFile writes content to path with mode 0600, as an operator would
// write a password or ACL file.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startWithConfig writes dir/gridmq.yaml, one loopback listener on a free
// port followed by the YAML keys in extra, and runs `gridmq serve --config`
// on it with args after. A configured listener refuses anonymous clients
// unless allow_anonymous says otherwise.
func startWithConfig(t testing.TB, dir, extra string, args ...string) *Broker {
	t.Helper()
	conf := filepath.Join(dir, "gridmq.yaml")
	writeFile(t, conf, "listener:\n  - port: 0\n    bind_address: 127.0.0.1\n"+extra)
	return startBrokerArgs(t, append([]string{"serve", "--config", conf}, args...)...)
}

// authKeys is the YAML naming a password file and, if acl is not "", an
// ACL file.
func authKeys(passwd, acl string) string {
	s := "password_file: " + passwd + "\n"
	if acl != "" {
		s += "acl_file: " + acl + "\n"
	}
	return s
}

// runGridmq runs the gridmq binary with stdin and args and returns what it
// printed; it fails the test unless gridmq exits 0.
func runGridmq(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gridmq %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// addUser runs `gridmq user add -f file user` with the password on stdin,
// creating the file if it is missing.
func addUser(t testing.TB, file, user, password string) {
	t.Helper()
	runGridmq(t, password+"\n", "user", "add", "-f", file, user)
}

// login sends one CONNECT at version v with a username and password (none
// when user is "") and returns the CONNACK's code. A refused client must then
// find the connection closed [MQTT-3.2.2-5] (3.1.1) [MQTT-3.2.2-7] (5.0)
// with Session Present 0 [MQTT-3.2.2-4] [MQTT-3.2.2-6]; an accepted one
// sends DISCONNECT.
func login(t testing.TB, b *Broker, v authVersion, clientID, user, password string) byte {
	t.Helper()
	c, err := openRaw(b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	flags := connClean
	payload := [][]byte{wireString(clientID)}
	if user != "" {
		flags |= connUsername | connPassword
		payload = append(payload, wireString(user), wireString(password))
	}
	var props []byte
	if v.Level >= level5 {
		props = wireProps()
	}
	if err := c.Write(wireConnect(v.ProtoName, v.Level, flags, props, payload...)); err != nil {
		t.Fatalf("%s CONNECT as %q: %v", v.Name, user, err)
	}
	p, err := c.ReadPacket(authWaitFor)
	if err != nil {
		t.Fatalf("%s CONNECT as %q: waiting for CONNACK: %v\nbroker:\n%s", v.Name, user, err, b.Output())
	}
	ca, err := decodeConnack(p, v.Level)
	if err != nil {
		t.Fatalf("%s CONNECT as %q: %v", v.Name, user, err)
	}
	if ca.Reason == 0 {
		c.Write(wireDisconnect)
		return 0
	}
	if ca.SessionPresent {
		t.Errorf("%s CONNECT as %q: Session Present 1 on a CONNACK with code %#02x [MQTT-3.2.2-4] [MQTT-3.2.2-6]", v.Name, user, ca.Reason)
	}
	if err := c.ExpectClosed(authWaitFor); err != nil {
		t.Errorf("%s CONNECT as %q refused with %#02x: %v [MQTT-3.2.2-5] [MQTT-3.2.2-7]", v.Name, user, ca.Reason, err)
	}
	return ca.Reason
}

// mustLogin fails the test unless login at v succeeds.
func mustLogin(t testing.TB, b *Broker, v authVersion, clientID, user, password string) {
	t.Helper()
	if code := login(t, b, v, clientID, user, password); code != 0 {
		t.Fatalf("%s login as %q refused with %#02x, want 0x00\nbroker:\n%s", v.Name, user, code, b.Output())
	}
}

// wantLogin fails the test unless login at v gets CONNACK code want.
func wantLogin(t testing.TB, b *Broker, v authVersion, clientID, user, password string, want byte, why string) {
	t.Helper()
	if code := login(t, b, v, clientID, user, password); code != want {
		t.Errorf("%s login as %q: CONNACK code %#02x, want %#02x %s", v.Name, user, code, want, why)
	}
}

// logCount is how many times the broker has printed s so far.
func logCount(b *Broker, s string) int { return strings.Count(b.Output(), s) }

// waitLogCount waits until the broker has printed s at least n times.
func waitLogCount(t testing.TB, b *Broker, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(authWaitFor)
	for logCount(b, s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("broker printed %q %d times within %v, want %d\nbroker:\n%s", s, logCount(b, s), authWaitFor, n, b.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// refusalRE matches the log line of a refused reload that names file:line.
func refusalRE(file string, line int) *regexp.Regexp {
	return regexp.MustCompile(`level=ERROR ` + regexp.QuoteMeta(refusedMsg) + `.* err="` + regexp.QuoteMeta(file) + `:` + strconv.Itoa(line) + `: `)
}

// waitRefusals waits until the broker has logged n refused reloads naming
// file:line.
func waitRefusals(t testing.TB, b *Broker, file string, line, n int) {
	t.Helper()
	re := refusalRE(file, line)
	deadline := time.Now().Add(authWaitFor)
	for len(re.FindAllString(b.Output(), -1)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("broker did not log %d refused reloads naming %s:%d within %v\nbroker:\n%s", n, file, line, authWaitFor, b.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sighup asks the broker to read its password and ACL files again.
func sighup(t testing.TB, b *Broker) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// v5Login is a clean-start CONNECT with a username and password.
func v5Login(clientID, user, password string) *paho.Connect {
	return &paho.Connect{
		ClientID: clientID, CleanStart: true,
		Username: user, UsernameFlag: true,
		Password: []byte(password), PasswordFlag: true,
	}
}

// trySubscribe subscribes to filter at QoS 1 and returns the SUBACK's reason
// code, success or not.
func (c *v5Client) trySubscribe(filter string) byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), v5WaitFor)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 1 {
		c.t.Fatalf("subscribe %q: no SUBACK with one reason code: %v", filter, err)
	}
	return sa.Reasons[0]
}

// mustSubscribe fails the test unless the subscription is granted.
func (c *v5Client) mustSubscribe(filter string) {
	c.t.Helper()
	if r := c.trySubscribe(filter); r >= 0x80 {
		c.t.Fatalf("subscribe %q refused with %#02x", filter, r)
	}
}

// tryPublish publishes at QoS 1 and returns the PUBACK's reason code.
func (c *v5Client) tryPublish(topic string, retain bool, payload string) byte {
	c.t.Helper()
	return c.tryPublishQoS(topic, 1, retain, payload)
}

// tryPublishQoS publishes at QoS 1 or 2 and returns the reason code of the
// PUBACK, or of the PUBREC (or PUBCOMP) for QoS 2.
func (c *v5Client) tryPublishQoS(topic string, qos byte, retain bool, payload string) byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), v5WaitFor)
	defer cancel()
	resp, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: []byte(payload)})
	if resp == nil {
		c.t.Fatalf("publish to %q: no PUBACK: %v", topic, err)
	}
	return resp.ReasonCode
}

// expectConnected fails the test if the server has sent DISCONNECT or the
// client has stopped.
func (c *v5Client) expectConnected(who string) {
	c.t.Helper()
	select {
	case d := <-c.disconnects:
		c.t.Fatalf("%s got DISCONNECT %#02x, want to stay connected", who, d.ReasonCode)
	case <-c.Done():
		c.t.Fatalf("%s was disconnected, want it to stay connected", who)
	default:
	}
}

// mosqRun runs mosquitto_pub or mosquitto_sub against b to completion and
// returns its exit status and standard error.
func mosqRun(t *testing.T, b *Broker, name string, args ...string) (int, string) {
	t.Helper()
	p := mosqStart(t, name, append([]string{"-h", b.Host, "-p", b.Port}, args...)...)
	code := p.exitCode(t, 30*time.Second)
	return code, p.stderr.String()
}

// The runbook's validation on a broker that asks for credentials: the
// configuration names a password file that does not exist yet and the
// standard user smc with its password. The broker creates the file, mode
// 0600, holding smc; mosquitto_sub and mosquitto_pub with -u smc -P print
// "hello world". A restart with another mqtt_password leaves smc's password
// as it was: the old one still logs in, the new one is refused with 3.1.1
// return code 4 (bad user name or password).
func TestAuthRunbookStandardUser(t *testing.T) {
	mosqNeed(t)
	t.Parallel()
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	b := startWithConfig(t, dir, authKeys(passwd, "")+"mqtt_username: smc\nmqtt_password: Grid-2024\n")

	creds := []string{"-u", "smc", "-P", "Grid-2024"}
	sub := mosqStart(t, "mosquitto_sub", append([]string{"-v", "-h", b.Host, "-p", b.Port, "-t", "hello", "-C", "1", "-W", "30"}, creds...)...)
	mosqPubUntilReceived(t, b, sub, append([]string{"-t", "hello", "-m", "world"}, creds...)...)
	if code := sub.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("mosquitto_sub exited %d\nstdout:\n%s\nstderr:\n%s", code, sub.stdout, sub.stderr)
	}
	if got := sub.stdout.String(); got != "hello world\n" {
		t.Errorf("mosquitto_sub printed %q, want %q", got, "hello world\n")
	}

	info, err := os.Stat(passwd)
	if err != nil {
		t.Fatalf("the password file was not created: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("password file mode %04o, want 0600", mode)
	}
	before, err := os.ReadFile(passwd)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^smc:\$`).Match(before) {
		t.Fatalf("password file holds no hashed smc line:\n%s", before)
	}
	if strings.Contains(string(before), "Grid-2024") {
		t.Errorf("password file holds the password in clear:\n%s", before)
	}
	b.Stop(t)

	b = startWithConfig(t, dir, authKeys(passwd, "")+"mqtt_username: smc\nmqtt_password: Other-2025\n")
	if code, stderr := mosqRun(t, b, "mosquitto_pub", "-t", "hello", "-m", "again", "-u", "smc", "-P", "Grid-2024"); code != 0 {
		t.Errorf("after a restart with another mqtt_password, smc's first password: mosquitto_pub exited %d, want 0\n%s", code, stderr)
	}
	code, stderr := mosqRun(t, b, "mosquitto_pub", "-t", "hello", "-m", "again", "-u", "smc", "-P", "Other-2025")
	if code != int(v3BadCredentials) || !strings.Contains(stderr, "bad user name or password") {
		t.Errorf("after a restart with another mqtt_password, the new password: mosquitto_pub exited %d, want %d (bad user name or password)\n%s", code, v3BadCredentials, stderr)
	}
	after, err := os.ReadFile(passwd)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("the restart rewrote the password file:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// A broker with a password file on a configured listener, at each protocol
// level. A wrong password and an unknown user are refused with return code 4
// (3.1, 3.1.1, table 3.1) or reason 0x86 Bad User Name or Password (5.0,
// 3.2.2.2); a client without a username is refused with 5 / 0x87 Not
// authorized, because a configured listener refuses anonymous clients
// unless allow_anonymous is true; the right password is accepted. A server
// that fails the authentication check must close the connection (3.1.1
// section 3.1.4 point 2, [MQTT-3.1.4-2] in 5.0). mosquitto_pub reports the
// same refusals: it exits with the CONNACK code and names it.
func TestAuthWrongPasswordAndAnonymousRefused(t *testing.T) {
	mosqNeed(t)
	t.Parallel()
	tests := []struct {
		v                  authVersion
		mosqV              string
		badCreds, anon     byte
		badText, anonText  string
		badExit, anonExits int
	}{
		{authV31, "mqttv31", v3BadCredentials, v3NotAuthorized, "bad user name or password", "not authorised", 4, 5},
		{authV311, "mqttv311", v3BadCredentials, v3NotAuthorized, "bad user name or password", "not authorised", 4, 5},
		{authV5, "mqttv5", v5ReasonBadCredentials, v5ReasonNotAuthorized, "Bad User Name or Password", "Not authorized", 0x86, 0x87},
	}
	for _, tc := range tests {
		t.Run(tc.v.Name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			passwd := filepath.Join(dir, "passwd")
			addUser(t, passwd, "alice", "right-horse")
			// Each broker sees at most three failures from this address,
			// fewer than the five a login backoff allows.
			b := startWithConfig(t, dir, authKeys(passwd, ""))

			wantLogin(t, b, tc.v, "wrong-pw", "alice", "wrong-horse", tc.badCreds, "for a wrong password")
			wantLogin(t, b, tc.v, "no-user", "mallory", "right-horse", tc.badCreds, "for an unknown user")
			wantLogin(t, b, tc.v, "anon", "", "", tc.anon, "for an anonymous client on a listener that refuses them")
			mustLogin(t, b, tc.v, "right-pw", "alice", "right-horse")

			code, stderr := mosqRun(t, b, "mosquitto_pub", "-V", tc.mosqV, "-t", "t", "-m", "m", "-u", "alice", "-P", "wrong-horse")
			if code != tc.badExit || !strings.Contains(stderr, tc.badText) {
				t.Errorf("mosquitto_pub -V %s with a wrong password exited %d, want %d and %q\n%s", tc.mosqV, code, tc.badExit, tc.badText, stderr)
			}
			code, stderr = mosqRun(t, b, "mosquitto_pub", "-V", tc.mosqV, "-t", "t", "-m", "m")
			if code != tc.anonExits || !strings.Contains(stderr, tc.anonText) {
				t.Errorf("mosquitto_pub -V %s without a username exited %d, want %d and %q\n%s", tc.mosqV, code, tc.anonExits, tc.anonText, stderr)
			}
			if code, stderr := mosqRun(t, b, "mosquitto_pub", "-V", tc.mosqV, "-t", "t", "-m", "m", "-u", "alice", "-P", "right-horse"); code != 0 {
				t.Errorf("mosquitto_pub -V %s with the right password exited %d, want 0\n%s", tc.mosqV, code, stderr)
			}
		})
	}
}

// reloadTimeRE captures the time of a reload log line.
var reloadTimeRE = regexp.MustCompile(`time=(\S+) level=INFO ` + regexp.QuoteMeta(reloadedMsg))

// A user added with `gridmq user add` while the broker runs can log in once
// the broker has seen the changed file; meanwhile a subscriber stays
// connected and still receives. The time from the command's return to the
// first accepted CONNECT is reported, not asserted: it depends on the
// machine, and the attempts refused before the reload count as failed logins
// and so may themselves be slowed down by the login backoff.
func TestAuthLiveUserAdd(t *testing.T) {
	mosqNeed(t)
	t.Parallel()
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	addUser(t, passwd, "alice", "alice-pw")
	b := startWithConfig(t, dir, authKeys(passwd, ""))

	sub := connectV5(t, b, v5Login("alice-sub", "alice", "alice-pw"))
	sub.mustSubscribe("news")

	reloads := logCount(b, reloadedMsg)
	addUser(t, passwd, "newuser", "new-pw")
	start := time.Now()
	var attempts []string
	for i := 1; ; i++ {
		code := login(t, b, authV311, "newuser", "newuser", "new-pw")
		if code == 0 {
			break
		}
		attempts = append(attempts, fmt.Sprintf("%.1fs:%d", time.Since(start).Seconds(), code))
		if time.Since(start) > authWaitFor {
			t.Fatalf("newuser still refused %v after `gridmq user add` (attempts at time:code %v)\nbroker:\n%s", authWaitFor, attempts, b.Output())
		}
		// One attempt every 100 ms from the start, however long each took.
		time.Sleep(time.Until(start.Add(time.Duration(i) * 100 * time.Millisecond)))
	}
	took := time.Since(start)
	waitLogCount(t, b, reloadedMsg, reloads+1)
	reloadedAfter := "?"
	if m := reloadTimeRE.FindAllStringSubmatch(b.Output(), -1); len(m) > 0 {
		if at, err := time.Parse(time.RFC3339Nano, m[len(m)-1][1]); err == nil {
			reloadedAfter = fmt.Sprintf("%.2fs", at.Sub(start).Seconds())
		}
	}
	t.Logf("newuser connected %.2fs after `gridmq user add` returned (target 2s); the broker logged the reload after %s; attempts before (time:code, 3 = backing off): %v",
		took.Seconds(), reloadedAfter, attempts)

	// The new user publishes with mosquitto_pub; the subscriber that was
	// connected throughout receives it.
	if code, stderr := mosqRun(t, b, "mosquitto_pub", "-t", "news", "-m", "from newuser", "-q", "1", "-u", "newuser", "-P", "new-pw"); code != 0 {
		t.Fatalf("mosquitto_pub as newuser exited %d\n%s", code, stderr)
	}
	sub.nextPayload("news", "from newuser")
	sub.expectConnected("alice's subscriber")
}

// Deleting a user and changing another's password while both are connected.
// The deleted user's MQTT 5.0 client gets DISCONNECT 0x87 Not authorized
// (3.14.2.1) and the connection is closed [MQTT-3.14.4-1]; the 3.1.1 client
// whose password changed is disconnected (3.1.1 has no server DISCONNECT);
// an unrelated client stays connected and keeps receiving. Afterwards the
// deleted user and the old password are refused (0x86) and the new password
// is accepted.
func TestAuthLiveDeleteAndPasswordChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	addUser(t, passwd, "gone", "gone-pw")
	addUser(t, passwd, "changed", "old-pw")
	addUser(t, passwd, "stays", "stays-pw")
	b := startWithConfig(t, dir, authKeys(passwd, ""))

	deleted := connectV5(t, b, v5Login("gone-1", "gone", "gone-pw"))

	lost := make(chan error, 1)
	opts := paho3Options(b, mqtt311, paho3ID("changed")).SetUsername("changed").SetPassword("old-pw").
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	paho3Connect(t, opts)

	other := connectV5(t, b, v5Login("stays-1", "stays", "stays-pw"))
	other.mustSubscribe("stays/echo")

	reloads := logCount(b, reloadedMsg)
	runGridmq(t, "", "user", "delete", "-f", passwd, "gone")
	runGridmq(t, "new-pw\n", "user", "passwd", "-f", passwd, "changed")

	if d := deleted.serverDisconnect(); d.ReasonCode != v5ReasonNotAuthorized {
		t.Errorf("deleted user's client got DISCONNECT %#02x, want 0x87 Not authorized", d.ReasonCode)
	}
	select {
	case <-deleted.Done():
	case <-time.After(authWaitFor):
		t.Errorf("deleted user's connection still open %v after DISCONNECT [MQTT-3.14.4-1]", authWaitFor)
	}
	select {
	case err := <-lost:
		t.Logf("3.1.1 client whose password changed: connection lost: %v", err)
	case <-time.After(authWaitFor):
		t.Errorf("3.1.1 client whose password changed still connected %v after the change\nbroker:\n%s", authWaitFor, b.Output())
	}
	waitLogCount(t, b, reloadedMsg, reloads+1)

	other.expectConnected("the unrelated client")
	other.publishString("stays/echo", 1, false, "still here")
	other.nextPayload("stays/echo", "still here")
	other.expectConnected("the unrelated client")

	wantLogin(t, b, authV5, "gone-2", "gone", "gone-pw", v5ReasonBadCredentials, "for a deleted user")
	wantLogin(t, b, authV5, "changed-2", "changed", "old-pw", v5ReasonBadCredentials, "for the old password")
	mustLogin(t, b, authV311, "changed-3", "changed", "new-pw")
}

// hashLine returns a password file line for user, hashed by gridmq passwd.
func hashLine(t testing.TB, user, password string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "one")
	runGridmq(t, "", "passwd", "-c", "-b", f, user, password)
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// A password or ACL file that does not parse, written while the broker runs,
// is refused: the broker logs the refusal with file:line, on the change and
// again on SIGHUP, and the users and rules in force stay as they were.
// Connected clients stay connected. Fixing the file applies it.
func TestAuthInvalidFileRefused(t *testing.T) {
	t.Parallel()
	t.Run("password file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		passwd := filepath.Join(dir, "passwd")
		alice := hashLine(t, "alice", "alice-pw")
		bob := hashLine(t, "bob", "bob-pw")
		writeFile(t, passwd, alice+"\n")
		b := startWithConfig(t, dir, authKeys(passwd, ""))
		watcher := connectV5(t, b, v5Login("alice-1", "alice", "alice-pw"))

		// bob's line is fine, line 3 is not: nothing of the file applies.
		writeFile(t, passwd, alice+"\n"+bob+"\nthis is not a user line\n")
		waitRefusals(t, b, passwd, 3, 1)
		mustLogin(t, b, authV5, "alice-2", "alice", "alice-pw")
		wantLogin(t, b, authV5, "bob-1", "bob", "bob-pw", v5ReasonBadCredentials, "for a user only the refused file holds")

		sighup(t, b)
		waitRefusals(t, b, passwd, 3, 2)
		if !strings.Contains(b.Output(), "trigger=SIGHUP") {
			t.Errorf("the refusal after SIGHUP does not say trigger=SIGHUP\nbroker:\n%s", b.Output())
		}
		mustLogin(t, b, authV5, "alice-3", "alice", "alice-pw")

		reloads := logCount(b, reloadedMsg)
		writeFile(t, passwd, alice+"\n"+bob+"\n")
		waitLogCount(t, b, reloadedMsg, reloads+1)
		mustLogin(t, b, authV5, "bob-2", "bob", "bob-pw")
		watcher.expectConnected("alice's client")
	})
	t.Run("ACL file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		passwd, acl := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
		addUser(t, passwd, "alice", "alice-pw")
		writeFile(t, acl, "user alice\ntopic readwrite old/#\n")
		b := startWithConfig(t, dir, authKeys(passwd, acl))
		c := connectV5(t, b, v5Login("alice-1", "alice", "alice-pw"))
		c.mustSubscribe("old/#")

		// Line 3 misspells "user": the whole file is refused, so new/#
		// stays forbidden and old/# stays allowed.
		writeFile(t, acl, "user alice\ntopic readwrite new/#\nusr bob\n")
		waitRefusals(t, b, acl, 3, 1)
		if r := c.trySubscribe("new/#"); r != v5ReasonNotAuthorized {
			t.Errorf("SUBSCRIBE new/# (allowed only by the refused file): reason %#02x, want 0x87", r)
		}
		c.publishString("old/x", 1, false, "old rules")
		c.nextPayload("old/x", "old rules")

		sighup(t, b)
		waitRefusals(t, b, acl, 3, 2)
		c.publishString("old/x", 1, false, "still old rules")
		c.nextPayload("old/x", "still old rules")

		reloads := logCount(b, reloadedMsg)
		writeFile(t, acl, "user alice\ntopic readwrite new/#\n")
		waitLogCount(t, b, reloadedMsg, reloads+1)
		c.mustSubscribe("new/#")
		c.publishString("new/x", 1, false, "new rules")
		c.nextPayload("new/x", "new rules")
		if r := c.tryPublish("old/x", false, "refused"); r != v5ReasonNotAuthorized {
			t.Errorf("PUBLISH to old/x after the fixed file applied: PUBACK %#02x, want 0x87", r)
		}
		c.expectNothing(v5Quiet)
		c.expectConnected("alice's client")
	})
}

// Failed-login backoff. Five wrong passwords for one user are refused with
// 0x86 Bad User Name or Password; the next attempt, right password or not,
// is refused with 0x9F Connection rate exceeded without the password being
// checked (3.1.1: return code 3, Server unavailable), and so is a user never
// seen before from the same address. A user whose exact credentials
// succeeded before logs in at once.
func TestAuthLoginBackoff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	addUser(t, passwd, "x", "x-pw")
	addUser(t, passwd, "y", "y-pw")
	addUser(t, passwd, "z", "z-pw")
	b := startWithConfig(t, dir, authKeys(passwd, ""))

	mustLogin(t, b, authV5, "y-1", "y", "y-pw")
	var last time.Time
	for i := 1; i <= 5; i++ {
		wantLogin(t, b, authV5, "x-"+strconv.Itoa(i), "x", "wrong", v5ReasonBadCredentials, fmt.Sprintf("for wrong password %d of 5", i))
		last = time.Now()
	}
	code := login(t, b, authV5, "x-6", "x", "wrong")
	if code == v5ReasonBadCredentials && time.Since(last) > time.Second {
		t.Skipf("the sixth attempt came %v after the fifth, after the first backoff delay (1s) had passed", time.Since(last))
	}
	if code != v5ReasonConnectionRateLimit {
		t.Fatalf("sixth wrong password: CONNACK %#02x, want 0x9F Connection rate exceeded\nbroker:\n%s", code, b.Output())
	}
	// Within the backoff: the right password is not even checked, and a
	// user never seen before from this address waits too.
	for _, try := range []struct {
		v    authVersion
		user string
		want byte
	}{
		{authV5, "x", v5ReasonConnectionRateLimit},
		{authV311, "x", v3ServerUnavailable},
		{authV5, "z", v5ReasonConnectionRateLimit},
	} {
		start := time.Now()
		code := login(t, b, try.v, try.user+"-ok", try.user, try.user+"-pw")
		if time.Since(last) > time.Second {
			t.Logf("%s %s: answered %v after the last failure, past the 1s backoff; not judged", try.v.Name, try.user, time.Since(last))
			continue
		}
		if code != try.want {
			t.Errorf("%s login as %s with the right password %v after the failures: CONNACK %#02x, want %#02x", try.v.Name, try.user, time.Since(start), code, try.want)
		}
	}
	// y succeeded before the failures: it is not slowed down.
	start := time.Now()
	mustLogin(t, b, authV5, "y-2", "y", "y-pw")
	mustLogin(t, b, authV311, "y-3", "y", "y-pw")
	t.Logf("y logged in twice in %v while x and the address back off", time.Since(start))
}

// auth_fail_delay holds back the CONNACK refusing bad credentials; only
// the lower bound is checked, so a slow machine cannot fail the test. A
// good login is not delayed by it (reported).
func TestAuthFailDelay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	addUser(t, passwd, "alice", "alice-pw")
	b := startWithConfig(t, dir, authKeys(passwd, "")+"auth_fail_delay: 1500ms\n")

	start := time.Now()
	wantLogin(t, b, authV5, "slow", "alice", "wrong", v5ReasonBadCredentials, "for a wrong password")
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("refusing CONNACK after %v, want at least auth_fail_delay 1.5s", took)
	}
	start = time.Now()
	mustLogin(t, b, authV5, "fast", "alice", "alice-pw")
	t.Logf("accepted login took %v", time.Since(start))
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startMosquittoBroker runs Debian's mosquitto with a password file on a
// free loopback port and returns a Broker naming its address (only Host,
// Port and Addr are set), or skips if mosquitto is not installed.
func startMosquittoBroker(t *testing.T, passwd string) *Broker {
	t.Helper()
	return startMosquittoConf(t, fmt.Sprintf("password_file %s\nallow_anonymous false\n", passwd))
}

// startMosquittoConf runs Debian's mosquitto on a free loopback port with
// the configuration lines conf, as startMosquittoBroker does.
func startMosquittoConf(t *testing.T, conf string) *Broker {
	t.Helper()
	path, err := exec.LookPath("mosquitto")
	if err != nil {
		if path, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			t.Skip("mosquitto is not installed (apt-get install mosquitto)")
		}
	}
	port := freePort(t)
	conf = fmt.Sprintf("listener %d 127.0.0.1\n", port) + conf
	if os.Geteuid() == 0 {
		// Started as root, mosquitto switches to the mosquitto user, which
		// cannot read a 0600 file root owns.
		conf += "user root\n"
	}
	confPath := filepath.Join(t.TempDir(), "mosquitto.conf")
	writeFile(t, confPath, conf)
	out := &lockedBuffer{}
	cmd := exec.Command(path, "-c", confPath)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	b := &Broker{Host: "127.0.0.1", Port: strconv.Itoa(port)}
	b.Addr = net.JoinHostPort(b.Host, b.Port)
	for deadline := time.Now().Add(authWaitFor); ; {
		if c, err := net.DialTimeout("tcp", b.Addr, time.Second); err == nil {
			c.Close()
			return b
		}
		select {
		case <-exited:
			t.Fatalf("mosquitto exited:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s within %v:\n%s", b.Addr, authWaitFor, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Password files cross between gridmq and Debian's Mosquitto 2.0 both ways:
// a file written by mosquitto_passwd -c -b logs in to gridmq serve, and a
// file written by gridmq passwd -c -b and gridmq user add logs in to
// mosquitto. Wrong passwords are refused by both.
func TestAuthPasswordFileCrossCompatible(t *testing.T) {
	mosqNeed(t)
	t.Parallel()
	t.Run("mosquitto_passwd file in gridmq", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("mosquitto_passwd"); err != nil {
			t.Skip("mosquitto_passwd is not installed (apt-get install mosquitto)")
		}
		dir := t.TempDir()
		passwd := filepath.Join(dir, "passwd")
		if out, err := exec.Command("mosquitto_passwd", "-c", "-b", passwd, "alice", "alice-pw").CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd -c -b: %v\n%s", err, out)
		}
		if out, err := exec.Command("mosquitto_passwd", "-b", passwd, "bob", "bob pw: with spaces").CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd -b: %v\n%s", err, out)
		}
		b := startWithConfig(t, dir, authKeys(passwd, ""))
		for _, u := range [][2]string{{"alice", "alice-pw"}, {"bob", "bob pw: with spaces"}} {
			if code, stderr := mosqRun(t, b, "mosquitto_pub", "-t", "t", "-m", "m", "-u", u[0], "-P", u[1]); code != 0 {
				t.Errorf("mosquitto_pub as %s exited %d, want 0\n%s\nbroker:\n%s", u[0], code, stderr, b.Output())
			}
		}
		wantLogin(t, b, authV311, "alice-bad", "alice", "alice-pw ", v3BadCredentials, "for a wrong password")
	})
	t.Run("gridmq file in mosquitto", func(t *testing.T) {
		t.Parallel()
		passwd := filepath.Join(t.TempDir(), "passwd")
		runGridmq(t, "", "passwd", "-c", "-b", passwd, "bob", "bob-pw")
		addUser(t, passwd, "carol", "carol pw: with spaces")
		b := startMosquittoBroker(t, passwd)
		for _, u := range [][2]string{{"bob", "bob-pw"}, {"carol", "carol pw: with spaces"}} {
			if code, stderr := mosqRun(t, b, "mosquitto_pub", "-t", "t", "-m", "m", "-u", u[0], "-P", u[1]); code != 0 {
				t.Errorf("mosquitto_pub to mosquitto as %s exited %d, want 0\n%s", u[0], code, stderr)
			}
		}
		if code, _ := mosqRun(t, b, "mosquitto_pub", "-t", "t", "-m", "m", "-u", "bob", "-P", "carol pw: with spaces"); code == 0 {
			t.Errorf("mosquitto accepted bob with carol's password")
		}
	})
}
