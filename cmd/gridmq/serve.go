package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/gridmq/gridmq/internal/auth"
	"github.com/gridmq/gridmq/internal/broker"
)

// shutdownTimeout bounds how long clients get to be told and flushed after
// SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

func runServe(args []string, stdout, stderr io.Writer) int {
	cfg, err := newServeFlags().parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		serveHelp(stdout)
		return 0
	case err != nil:
		printError(stderr, err)
		if errors.As(err, new(usageError)) {
			fmt.Fprintln(stderr, "Run 'gridmq serve --help' for the flags.")
		}
		return 2
	}
	opts, specs := brokerOptions(cfg), listenerSpecs(cfg)
	opts.Logger = slog.New(slog.NewTextHandler(stderr, nil))
	var store *auth.Store
	if cfg.PasswordFile != "" || cfg.ACLFile != "" || cfg.StandardUser != "" || cfg.StandardPassword != "" {
		if store, err = auth.Open(authOptions(cfg)); err != nil {
			printError(stderr, err)
			return 2
		}
		if cfg.PasswordFile != "" {
			opts.Authenticator = store
		}
		if cfg.ACLFile != "" {
			opts.Authorizer = store
		}
	}

	opened := time.Now()
	dir, inMemory := dataDirFor(cfg, os.Getenv, os.Geteuid())
	if dir == "" {
		fmt.Fprintf(stdout, "gridmq: no data dir: retained messages and sessions are kept in memory (%s)\n", inMemory)
	} else {
		data, err := openDataDir(cfg, dir, stderr)
		if err != nil {
			printError(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "gridmq: data dir %s (durability %s)\n", dir, cfg.Durability)
		opts.Durable = data
		defer func() {
			if err := data.Close(); err != nil {
				printError(stderr, fmt.Errorf("closing the data dir: %w", err))
			}
		}()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Once shutdown has begun, a second signal ends the process at once.
	context.AfterFunc(ctx, stop)
	return serve(ctx, opts, specs, store, opened, stdout, stderr)
}

// serve opens every listener, runs the broker on them until ctx is done or
// one of them fails, then shuts the broker down. store, if not nil, holds
// the password and ACL files, which are reloaded when they change and on
// SIGHUP.
func serve(ctx context.Context, opts broker.Options, specs []listenerSpec, store *auth.Store, opened time.Time, stdout, stderr io.Writer) int {
	lns, err := listen(specs)
	if err != nil {
		printError(stderr, err)
		return 1
	}
	srv := broker.New(opts)
	if opts.Durable != nil {
		rec, err := srv.Recover()
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			printError(stderr, fmt.Errorf("data dir: %w", err))
			return 1
		}
		if rec.Queued+rec.Retained > 0 {
			// Reading the log left garbage the size of it: give it back
			// soon, not at the next collection, which a broker holding a
			// large queue may not need for a long time; in the background,
			// so that clients need not wait for it.
			go debug.FreeOSMemory()
		}
		fmt.Fprintf(stdout, "gridmq: data dir recovered in %s: %d retained messages, %d persistent sessions with %d subscriptions and %d queued messages, %d wills due, %d wills waiting out their delay (expired while stopped: %d retained messages, %d sessions, %d queued messages)\n",
			time.Since(opened).Round(time.Millisecond), rec.Retained, rec.Sessions, rec.Subscriptions, rec.Queued, rec.Wills, rec.WillsPending,
			rec.Expired, rec.SessionsExpired, rec.QueuedExpired)
	}
	watchAuthFiles(ctx, srv, store, opts.Logger)
	for i, ln := range lns {
		access := "refused"
		if specs[i].allowAnonymous {
			access = "allowed"
		}
		fmt.Fprintf(stdout, "gridmq: listening on %s (mqtt, anonymous %s)\n", ln.Addr(), access)
		if specs[i].allowAnonymous && !specs[i].loopback {
			fmt.Fprintf(stderr, "gridmq: warning: anyone who can reach %s may connect without a username (allow_anonymous is true on a non-loopback listener)\n", ln.Addr())
		}
	}

	// Buffered for every listener, so no Serve goroutine blocks on send once
	// serve stops reading.
	errc := make(chan error, len(lns))
	for i, ln := range lns {
		lo := broker.ListenerOptions{AllowAnonymous: specs[i].allowAnonymous}
		go func() {
			if err := srv.Serve(ln, lo); err != nil {
				errc <- fmt.Errorf("serve %s: %w", ln.Addr(), err)
				return
			}
			errc <- nil
		}()
	}

	code, running := 0, len(lns)
	select {
	case <-ctx.Done():
	case err := <-errc:
		// Serve returns before Shutdown only when it fails.
		running--
		printError(stderr, err)
		code = 1
	}

	fmt.Fprintln(stdout, "gridmq: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		printError(stderr, fmt.Errorf("shutdown: %w", err))
		code = 1
	}
	// Shutdown closes the listeners; closing them again is harmless and makes
	// sure every Serve returns.
	for _, ln := range lns {
		ln.Close()
	}
	for ; running > 0; running-- {
		select {
		case err := <-errc:
			if err != nil && !errors.Is(err, broker.ErrServerClosed) {
				printError(stderr, err)
				code = 1
			}
		case <-sctx.Done():
			printError(stderr, fmt.Errorf("shutdown: %d listener(s) still serving after %v", running, shutdownTimeout))
			code, running = 1, 0
		}
	}
	fmt.Fprintln(stdout, "gridmq: stopped")
	return code
}

// listen opens every listener, or none: on an error it closes those already
// open.
func listen(specs []listenerSpec) ([]net.Listener, error) {
	lns := make([]net.Listener, 0, len(specs))
	for _, s := range specs {
		ln, err := net.Listen(network(s.addr), s.addr)
		if err != nil {
			for _, open := range lns {
				open.Close()
			}
			return nil, fmt.Errorf("listen %s: %w", s.addr, listenCause(err))
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// network is the net.Listen network for addr. An IPv4 bind address gets an
// IPv4-only socket: with plain "tcp", Go would listen on 0.0.0.0 with a
// dual-stack socket, reachable over IPv6 too and reported as [::]. Like
// Mosquitto, an IPv6 address listens on IPv6 only, and a host name or an empty
// host (every interface) on both.
func network(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	ip, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return "tcp"
	case ip.Unmap().Is4():
		return "tcp4"
	default:
		return "tcp6"
	}
}

// listenCause strips "listen tcp ADDR: bind:" from a net.Listen error,
// leaving "address already in use" or "lookup mqtt.example: no such host".
func listenCause(err error) error {
	if se, ok := errors.AsType[*os.SyscallError](err); ok {
		return se.Err
	}
	if oe, ok := errors.AsType[*net.OpError](err); ok {
		return oe.Err
	}
	return err
}

// printError prints every line of err (a joined error has several) prefixed
// with "gridmq: ".
func printError(w io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "gridmq: %s\n", line)
	}
}
