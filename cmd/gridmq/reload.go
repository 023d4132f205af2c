package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/gridmq/gridmq/internal/auth"
	"github.com/gridmq/gridmq/internal/broker"
	"github.com/gridmq/gridmq/internal/filewatch"
)

// watchAuthFiles reloads the password and ACL files when they change (checked
// every filewatch.DefaultInterval, so a change applies within about a second)
// and on SIGHUP, until ctx is done. A file that fails to load leaves the
// users and rules in force and is logged with its file and line; a good one
// closes the connections of users whose password changed or who were deleted.
func watchAuthFiles(ctx context.Context, srv *broker.Server, store *auth.Store, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	context.AfterFunc(ctx, func() { signal.Stop(hup) })

	var mu sync.Mutex // one reload at a time, so their log lines say what is in force
	reload := func(trigger string) {
		mu.Lock()
		defer mu.Unlock()
		if err := store.Reload(); err != nil {
			log.Error("reload refused; the previous users and rules stay in force", "trigger", trigger, "err", err.Error())
			return
		}
		closed := srv.RecheckCredentials()
		log.Info("reloaded password and ACL files", "trigger", trigger, "connections_closed", closed)
	}

	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if store == nil {
					log.Info("SIGHUP: no password or ACL file to reload")
					continue
				}
				reload("SIGHUP")
			}
		}
	}()
	if store == nil || len(store.Files()) == 0 {
		return
	}
	w := filewatch.New(store.Files(), filewatch.DefaultInterval, func([]string) { reload("file changed") })
	go w.Run(ctx)
}
