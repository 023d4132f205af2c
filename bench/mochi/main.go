// Command mochi runs Mochi MQTT v2 as a peer for bench/compare.sh: one TCP
// listener, every client admitted (auth.AllowHook), no storage hook and so no
// persistence, and Mochi's default options otherwise. It runs until SIGINT or
// SIGTERM.
//
// This module is nested so that gridmq itself never depends on Mochi.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:1883", "serve MQTT on `HOST:PORT`")
	flag.Parse()

	server := mqtt.New(&mqtt.Options{})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		log.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: *listen})
	if err := server.AddListener(tcp); err != nil {
		log.Fatal(err)
	}
	if err := server.Serve(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s (mochi %s)\n", tcp.Address(), mqtt.Version)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
	if err := server.Close(); err != nil {
		log.Fatal(err)
	}
}
