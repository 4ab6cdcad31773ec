package ctl

import (
	"errors"
	"fmt"
)

// Exit codes, as etcdctl's cobrautl package defines them.
const (
	ExitSuccess       = 0
	ExitError         = 1
	ExitBadConnection = 2
	ExitInvalidInput  = 3 // txn and watch input errors
	ExitBadFeature    = 4 // a valid flag with an unsupported value
	ExitInterrupted   = 5
	ExitIO            = 6
	ExitBadArgs       = 128
)

// ExitCodeError is the error every command returns: the message etcdctl prints
// after "Error: " and the process exit code etcdctl uses for it. A nil Err
// means exit silently with Code (etcdctl does so after printing per-endpoint
// failures itself).
type ExitCodeError struct {
	Code int
	Err  error
}

// Error returns the message of the wrapped error.
func (e *ExitCodeError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *ExitCodeError) Unwrap() error { return e.Err }

// ErrNoReport is the wrapped error of an ExitCodeError whose message was
// already printed by the command: main prints nothing more.
var ErrNoReport = errors.New("ctl: already reported")

func exitErr(code int, err error) error { return &ExitCodeError{Code: code, Err: err} }

func exitErrf(code int, format string, a ...any) error {
	return &ExitCodeError{Code: code, Err: fmt.Errorf(format, a...)}
}

func silentExit(code int) error { return &ExitCodeError{Code: code, Err: ErrNoReport} }

// CodeOf returns the exit code for an error returned by the root command:
// the ExitCodeError's code, or ExitError (1) for cobra's own errors such as an
// unknown flag, as etcdctl exits 1 on them.
func CodeOf(err error) int {
	if err == nil {
		return ExitSuccess
	}
	var ee *ExitCodeError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitError
}
