// Package topic validates MQTT topic names and topic filters and routes topic
// names to subscriptions.
//
// It holds the three structures on the path of every PUBLISH:
//
//   - validation of names and filters, including the "$share/{group}/{filter}"
//     form of shared subscriptions (MQTT 5.0 section 4.8.2);
//   - Index, a trie of subscriptions answered from a bounded cache that a
//     generation counter invalidates, with shared groups and their
//     round-robin counters;
//   - Retained, a trie of retained messages matched against a new
//     subscription's filter.
//
// Topic levels are compared byte for byte, as the specification allows
// (MQTT 5.0 section 4.7.3): no normalisation, case sensitive.
//
// The package imports only the standard library. It must never import the
// broker, session or packet packages: the broker maps the sentinel errors
// below to reason codes 0x8F (Topic Filter invalid) and 0x90 (Topic Name
// invalid).
package topic
