package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"
)

var (
	errPasswordMismatch = errors.New("passwords do not match")
	errNoPassword       = errors.New("no password on standard input")
)

// passwordInput reads passwords from standard input: from a terminal without echo, or
// else line by line, so that a script can pipe them in. A password is never taken from the
// command line of gridmq user, where other users could read it in the process list.
type passwordInput struct {
	fd    int           // the terminal's descriptor, or -1 when in is not a terminal
	lines *bufio.Reader // in, when it is not a terminal
}

func newPasswordInput(in io.Reader) *passwordInput {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &passwordInput{fd: int(f.Fd())}
	}
	return &passwordInput{fd: -1, lines: bufio.NewReader(in)}
}

func (p *passwordInput) terminal() bool { return p.fd >= 0 }

// read writes prompt to w and returns the next password, without its line ending. The line
// ends after the answer as mosquitto_passwd ends it, also when the answer was not echoed.
func (p *passwordInput) read(prompt string, w io.Writer) (string, error) {
	fmt.Fprint(w, prompt)
	if p.terminal() {
		pw, err := p.readHidden()
		fmt.Fprintln(w)
		return string(pw), err
	}
	line, err := p.lines.ReadString('\n')
	if prompt != "" {
		fmt.Fprintln(w)
	}
	switch {
	case errors.Is(err, io.EOF) && line == "":
		return "", errNoPassword
	case err != nil && !errors.Is(err, io.EOF):
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}

// readHidden reads a line from the terminal with echo off. An interrupt while it waits would
// otherwise end the process with echo still off, leaving the user's shell blind.
func (p *passwordInput) readHidden() ([]byte, error) {
	state, err := term.GetState(p.fd)
	if err != nil {
		return nil, err
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-signals:
			term.Restore(p.fd, state)
			fmt.Fprintln(os.Stderr)
			os.Exit(130)
		case <-done:
		}
	}()
	defer func() {
		signal.Stop(signals)
		close(done)
		<-stopped
	}()
	return term.ReadPassword(p.fd)
}

// newPassword asks for the password of a user being added or changed: on a terminal twice,
// prompting on w, and the answers must match; otherwise the first line of input. An empty
// password is refused.
func (p *passwordInput) newPassword(user string, w io.Writer) (string, error) {
	if !p.terminal() {
		pw, err := p.read("", w)
		if err == nil && pw == "" {
			err = errors.New("empty password on standard input")
		}
		return pw, err
	}
	pw, err := p.read("Password for "+user+": ", w)
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	again, err := p.read("Repeat password: ", w)
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errPasswordMismatch
	}
	return pw, nil
}
