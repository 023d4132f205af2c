package main

import (
	"os"

	"github.com/gridmq/gridmq/internal/auth"
	"github.com/gridmq/gridmq/internal/broker"
	"github.com/gridmq/gridmq/internal/config"
)

// listenerSpec is one listener serve opens.
type listenerSpec struct {
	addr           string // HOST:PORT for net.Listen, as configured
	allowAnonymous bool
	loopback       bool // the configured host is a loopback address
}

// parseServe turns serve's arguments into the broker's options and the
// listeners to open. It reads the --config file but opens nothing.
func parseServe(args []string) (broker.Options, []listenerSpec, error) {
	cfg, err := newServeFlags().parse(args)
	if err != nil {
		return broker.Options{}, nil, err
	}
	return brokerOptions(cfg), listenerSpecs(cfg), nil
}

// authOptions is the one place configuration becomes the auth store's
// options. The standard user's password may come from the environment, so
// that it need not be written in a file or on a command line.
func authOptions(c *config.Config) auth.Options {
	o := auth.Options{
		PasswordFile:     c.PasswordFile,
		ACLFile:          c.ACLFile,
		StandardUser:     c.StandardUser,
		StandardPassword: c.StandardPassword,
	}
	if pw := os.Getenv("GRIDMQ_MQTT_PASSWORD"); pw != "" {
		o.StandardPassword = pw
	}
	return o
}

// brokerOptions is the one place configuration becomes broker options.
// Logger is left for the caller.
func brokerOptions(c *config.Config) broker.Options {
	o := broker.DefaultOptions()
	o.MaxQueuedMessages = c.MaxQueuedMessages
	o.MaxQueuedBytes = c.MaxQueuedBytes
	o.MaxInflightMessages = c.MaxInflightMessages
	o.MessageSizeLimit = c.MessageSizeLimit
	o.MaxPacketSize = c.MaxPacketSize
	o.MaxKeepAlive = c.MaxKeepalive
	o.SysInterval = c.SysInterval
	o.RetainAvailable = c.RetainAvailable
	o.MaxQoS = c.MaxQoS
	o.MaxTopicAlias = c.MaxTopicAlias
	o.AllowZeroLengthClientID = c.AllowZeroLengthClientID
	o.PersistentClientExpiration = c.PersistentClientExpiration
	o.QueueQoS0Messages = c.QueueQoS0Messages
	o.StallTimeout = c.StallTimeout
	o.AuthFailDelay = c.AuthFailDelay
	o.Version = version
	return o
}

func listenerSpecs(c *config.Config) []listenerSpec {
	specs := make([]listenerSpec, 0, len(c.Listeners))
	for _, l := range c.Listeners {
		specs = append(specs, listenerSpec{
			addr:           l.Addr(),
			allowAnonymous: c.AnonymousAllowed(l),
			loopback:       config.IsLoopback(l.BindAddress),
		})
	}
	return specs
}
