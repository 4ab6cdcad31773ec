package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/server"
)

// runFunc is server.Run's signature: serve cfg until ctx ends or a fatal
// error.
type runFunc func(ctx context.Context, cfg *config.Config, lg *zap.Logger) error

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := realMain(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr, server.Run)
	stop()
	os.Exit(code)
}

// realMain parses the command line, builds the logger and runs run; it
// returns the process exit status. The server itself warns about each
// setting in cfg.Deferred().
func realMain(ctx context.Context, args, env []string, stdout, stderr io.Writer, run runFunc) int {
	cfg, code := parse(args, env, stdout, stderr)
	if cfg == nil {
		return code
	}
	lg, err := cfg.NewLogger()
	if err != nil {
		fmt.Fprintf(stderr, "concord: %s\n", oneLine(err.Error()))
		return exitError
	}
	defer func() { _ = lg.Sync() }()
	defer config.SetGlobalLoggers(lg, cfg.LogLevel)()
	lg.Info("starting concord",
		zap.String("concord-version", config.Version),
		zap.String("etcd-api-version", config.APIVersion),
		zap.String("git-sha", config.GitSHA),
		zap.String("name", cfg.Name),
		zap.String("data-dir", cfg.DataDir))
	if err := run(ctx, cfg, lg); err != nil {
		lg.Error("concord stopped with an error", zap.Error(err))
		return exitError
	}
	lg.Info("concord stopped")
	return exitOK
}
