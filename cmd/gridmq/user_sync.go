package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gridmq/gridmq/internal/auth/passwd"
)

// noChanges is sync's whole output when the file already matches, which a configuration
// tool such as Ansible reads as "not changed".
const noChanges = "no changes"

// userSync makes the password file hold exactly the users of a YAML list. It prints one line
// per change and rewrites the file only when there is one, so a run that changes nothing
// leaves the file, and its modification time, alone.
func userSync(args []string, stdout io.Writer) error {
	fl := newUserFlags("sync").withFile().withHash()
	var from string
	var dryRun bool
	fl.fs.StringVar(&from, "from", "", "")
	fl.fs.BoolVar(&dryRun, "dry-run", false, "")
	if _, err := parseUsage(fl, args); err != nil {
		return err
	}
	if from == "" {
		return usageError{errors.New("missing --from LIST, the YAML user list")}
	}
	h, err := hasherUsage(fl)
	if err != nil {
		return err
	}
	list, err := passwd.LoadUserList(from)
	if err != nil {
		return err
	}
	f, err := loadOrNew(fl.file)
	if err != nil {
		return err
	}
	changes, err := passwd.PlanSync(f, list)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		fmt.Fprintln(stdout, noChanges)
		return nil
	}
	var b strings.Builder
	for _, c := range changes {
		b.WriteString(c.String() + "\n")
	}
	if dryRun {
		_, err := io.WriteString(stdout, b.String())
		return err
	}
	if err := f.ApplySync(changes, h); err != nil {
		return err
	}
	if err := f.WriteFile(fl.file); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}
