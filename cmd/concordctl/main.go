package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/concord-kv/concord/ctl"
)

func main() {
	root := ctl.NewRootCommand(ctl.Env{})
	err := root.Execute()
	if err == nil {
		return
	}
	if !errors.Is(err, ctl.ErrNoReport) {
		fmt.Fprintln(os.Stderr, "Error:", err)
	}
	os.Exit(ctl.CodeOf(err))
}
