// Package acl reads Mosquitto's ACL file format (mosquitto.conf(5), acl_file)
// and answers, for one client, whether it may publish to a topic, receive a
// message on a topic, or subscribe to a filter.
//
// The decisions follow Mosquitto 2.0's default ACL check
// (src/security_default.c, mosquitto_acl_check_default) rule for rule:
//
//   - Rules before the first "user" line apply to anonymous clients; rules
//     after "user <name>" apply to clients that logged in with that username.
//     A name may appear on several "user" lines; its rules accumulate.
//   - "pattern" rules apply to every client wherever they appear, after "%c"
//     is replaced by the client identifier and "%u" by the username. A pattern
//     that uses "%u" is skipped for anonymous clients.
//   - The client's own rules are checked first, then the patterns. Within each
//     list the deny rules are checked before the others, and the first rule
//     whose topic matches and whose access covers the request decides. So a
//     user's allow rule wins over a matching deny pattern, as in Mosquitto.
//   - If any pattern exists, a client whose identifier or username contains
//     '+' or '#' is denied everything the user rules did not already allow
//     (2.0 checks only "+#"; 1.x also refused '/'). A '/' in an identifier is
//     substituted as is and so spans levels, as in 2.0.
//   - A topic starting with '$' is matched only by a rule whose topic starts
//     with '$': "topic read #" does not grant "$SYS/broker/uptime".
//   - Nothing matching means deny.
//
// Read covers delivery of a message, Write covers PUBLISH (and a will).
// Subscribe is a gridmq addition: Mosquitto 2.0's default check allows every
// SUBSCRIBE ("FIXME - implement ACL subscription strings") and only filters
// delivery by Read. gridmq refuses a subscription no read rule could ever
// deliver on; see Rules.CanSubscribe. Deliveries must still be checked with
// Read.
//
// The package knows nothing of the broker and must never import it; it
// imports only internal/topic for wildcard matching.
package acl
