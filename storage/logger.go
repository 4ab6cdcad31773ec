package storage

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
)

// ZapLogger adapts lg to Pebble's logger, so that Pebble's own lines (such
// as "Found 0 WALs" when it opens) are zap entries like every other log
// line of the member instead of raw text on stderr: Infof logs at info,
// Errorf at error, Fatalf at fatal (which exits, as Pebble's default
// logger does). Trailing newlines are dropped.
func ZapLogger(lg *zap.Logger) pebble.Logger {
	return zapPebble{lg.WithOptions(zap.AddCallerSkip(1))}
}

type zapPebble struct{ lg *zap.Logger }

func (z zapPebble) Infof(format string, args ...any) { z.lg.Info(pebbleMsg(format, args)) }

func (z zapPebble) Errorf(format string, args ...any) { z.lg.Error(pebbleMsg(format, args)) }

func (z zapPebble) Fatalf(format string, args ...any) { z.lg.Fatal(pebbleMsg(format, args)) }

func pebbleMsg(format string, args []any) string {
	return strings.TrimRight(fmt.Sprintf(format, args...), "\n")
}
