// Command gridmq is an MQTT 3.1, 3.1.1 and 5.0 broker.
//
//	gridmq serve [flags]    run the broker (gridmq serve --help lists the flags)
//	gridmq bench SCENARIO   load a broker and measure it (gridmq bench --help)
//	gridmq user SUBCOMMAND  manage the password file (gridmq user --help)
//	gridmq passwd ...       the same with mosquitto_passwd's options
//	gridmq import-retained  copy a running broker's retained messages into gridmq
//	gridmq version          print the version
//	gridmq help [command]   explain a command
//
// main only wires: flags and the configuration file become broker options,
// listeners are opened here, and signals end the broker.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command named by args[0] and returns the exit code: 0 on
// success, 1 when the broker fails, 2 for a usage or configuration error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "user":
		return runUser(args[1:], os.Stdin, stdout, stderr)
	case "passwd":
		return runPasswd(args[1:], os.Stdin, stdout, stderr)
	case "import-retained":
		return runImportRetained(args[1:], os.Getenv, stdout, stderr)
	case "version", "-version", "--version":
		return runVersion(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		return runHelp(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "gridmq: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return 0
	}
	switch args[0] {
	case "serve":
		serveHelp(stdout)
	case "bench":
		return runBench([]string{"--help"}, stdout, stderr)
	case "user":
		userHelp(stdout)
	case "passwd":
		passwdHelp(stdout)
	case "import-retained":
		importHelp(stdout)
	case "version":
		fmt.Fprintln(stdout, "Usage: gridmq version\n\nPrint gridmq's version.")
	default:
		fmt.Fprintf(stderr, "gridmq help: unknown command %q\n", args[0])
		return 2
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `gridmq is an MQTT 3.1, 3.1.1 and 5.0 broker.

Usage:
  gridmq serve [flags]     run the broker; with no flags on 127.0.0.1:20200
  gridmq bench SCENARIO    load a broker and measure it: conn, pub, sub, fanin, fanout, p2p
  gridmq user SUBCOMMAND   manage the password file: add, passwd, delete, list,
                           import, sync
  gridmq passwd ARGS       manage the password file with mosquitto_passwd's options
  gridmq import-retained   copy a running broker's retained messages (Mosquitto's)
                           into gridmq over MQTT
  gridmq version           print the version
  gridmq help [command]    explain a command

Run 'gridmq serve --help' for the flags and the configuration file.
`)
}
