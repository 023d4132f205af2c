package main

import (
	"fmt"
	"io"
)

// version is set when a release is built:
//
//	go build -ldflags "-X main.version=1.2.0" ./cmd/gridmq
//
// It is also what the broker reports in $SYS/broker/version.
var version = "dev"

func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "gridmq version: unexpected argument %q\n", args[0])
		return 2
	}
	fmt.Fprintf(stdout, "gridmq %s\n", version)
	return 0
}
