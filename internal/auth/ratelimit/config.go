package ratelimit

import "time"

// Defaults for the zero fields of a Config.
const (
	DefaultFree    = 5
	DefaultBase    = time.Second
	DefaultMax     = 5 * time.Minute
	DefaultForget  = 15 * time.Minute
	DefaultMaxKeys = 65536
)

// Config sets a Limiter's policy. Every limit applies to each key on its own: to one source
// address, and to one username.
type Config struct {
	// Free is how many consecutive failures a key may have before its next attempt must wait.
	// Zero means DefaultFree; a negative value means 1, so that every failure delays the next
	// attempt (no limiter can refuse the first).
	Free int

	// Base is the wait after the Free-th failure; each further failure doubles it.
	// Zero means DefaultBase.
	Base time.Duration

	// Max caps the delay. Zero means DefaultMax.
	Max time.Duration

	// Forget is how long a key must go without a failure before its count is dropped.
	// Zero means DefaultForget. A value below Max is raised to Max, so that no record is
	// forgotten while its delay still runs, which would quietly make Forget the cap.
	Forget time.Duration

	// MaxKeys bounds how many source addresses, and separately how many usernames, are
	// remembered, so that a spray of made-up usernames cannot grow memory and cannot push out
	// the addresses. An address and a username record take about 260 bytes together with their
	// map slots (measured), so both tables full at the default hold about 16 MiB.
	// Zero means DefaultMaxKeys.
	MaxKeys int

	// Now returns the current time; nil means time.Now. It should not go backwards: records are
	// kept in order of their last failure, and that order decides which are evicted first.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	switch {
	case c.Free == 0:
		c.Free = DefaultFree
	case c.Free < 0:
		c.Free = 1
	}
	if c.Base <= 0 {
		c.Base = DefaultBase
	}
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	c.Max = max(c.Max, c.Base)
	if c.Forget <= 0 {
		c.Forget = DefaultForget
	}
	c.Forget = max(c.Forget, c.Max)
	if c.MaxKeys <= 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// delay is how long a key with this many consecutive failures must wait after the last one:
// nothing before the Free-th, then Base, 2·Base, 4·Base, ... up to Max.
func (c *Config) delay(failures int) time.Duration {
	if failures < c.Free {
		return 0
	}
	d := c.Base
	for range failures - c.Free {
		if d > c.Max/2 { // doubling would pass Max, or overflow
			return c.Max
		}
		d *= 2
	}
	return d
}
