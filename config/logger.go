package config

import (
	"fmt"
	"io"
	"log"
	"slices"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zapgrpc"
	"google.golang.org/grpc/grpclog"
)

// NewLogger builds the zap logger --logger, --log-level, --log-format and
// --log-outputs describe, as etcd 3.6 builds it: etcd's field names
// ("level", "ts", "caller", "msg") and time format, so log lines parse
// like etcd's; JSON unless --log-format=console; etcd's sampling (100 a
// second per message, then every 100th). Outputs: "default" (no outputs
// given means it too) and "stderr" are stderr, "stdout" is stdout,
// "systemd/journal" sends every entry to the systemd journal's native
// socket (see newJournalSyncer), anything else is a file path opened for
// appending; several outputs all receive every line. Errors wrap
// ErrInvalid for bad settings (etcd's texts, see validateLogging), or
// report the output that could not be opened (for systemd/journal etcd's
// "can't find journal (...)").
func (c *Config) NewLogger() (*zap.Logger, error) {
	if err := c.validateLogging(); err != nil {
		return nil, err
	}
	level, err := zapcore.ParseLevel(c.LogLevel)
	if err != nil {
		return nil, invalidf("--log-level: %v", err)
	}
	encoding := c.LogFormat
	if encoding == "" {
		encoding = "json"
	}
	if slices.Contains(c.logOutputs(), "systemd/journal") {
		syncer, err := newJournalSyncer(journalSocket, stderrSyncer{})
		if err != nil {
			return nil, fmt.Errorf("can't find journal (%w)", err)
		}
		enc := zapcore.NewJSONEncoder(EncoderConfig())
		if encoding == "console" {
			enc = zapcore.NewConsoleEncoder(EncoderConfig())
		}
		core := zapcore.NewSamplerWithOptions(zapcore.NewCore(enc, syncer, zap.NewAtomicLevelAt(level)), time.Second, 100, 100)
		return zap.New(core, zap.AddCaller(), zap.ErrorOutput(syncer)), nil
	}
	var outputs []string
	for _, o := range c.logOutputs() {
		if o == "default" {
			o = "stderr"
		}
		if !slices.Contains(outputs, o) {
			outputs = append(outputs, o)
		}
	}
	zc := zap.Config{
		Level:            zap.NewAtomicLevelAt(level),
		Encoding:         encoding,
		Sampling:         &zap.SamplingConfig{Initial: 100, Thereafter: 100},
		EncoderConfig:    EncoderConfig(),
		OutputPaths:      outputs,
		ErrorOutputPaths: outputs,
	}
	lg, err := zc.Build()
	if err != nil {
		return nil, fmt.Errorf("config: build logger for --log-outputs %v: %w", c.LogOutputs, err)
	}
	return lg, nil
}

// logOutputs is --log-outputs, ["default"] when none is given (as etcd).
func (c *Config) logOutputs() []string {
	if len(c.LogOutputs) == 0 {
		return []string{"default"}
	}
	return c.LogOutputs
}

// SetGlobalLoggers routes the process-wide loggers of the libraries the
// server uses into lg, so that nothing but zap entries reaches stderr:
//
//   - gRPC's logger (grpclog): as etcd, quiet unless --log-level=debug. etcd
//     drops gRPC's info lines and prints its warnings and errors raw on
//     stderr; here they are lg's warn and error entries (named "grpc"), and
//     with debug every gRPC line is an entry;
//   - the standard library's log package, which net/http servers use for
//     their own errors (e.g. "http: TLS handshake error from ..."): each
//     line becomes a warn entry of lg (named "std").
//
// Call it once, before any gRPC use (grpclog is not safe to replace while
// gRPC runs); the returned func restores the standard logger.
func SetGlobalLoggers(lg *zap.Logger, logLevel string) (restore func()) {
	glg := lg.Named("grpc")
	// Raise to warn only a logger that allows info: zap refuses to lower
	// a level, and says so on the error output.
	if logLevel != "debug" && glg.Core().Enabled(zapcore.InfoLevel) {
		glg = glg.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
	}
	grpclog.SetLoggerV2(zapgrpc.NewLogger(glg))
	undo, err := zap.RedirectStdLogAt(lg.Named("std"), zapcore.WarnLevel)
	if err != nil {
		// Only for a level lg does not enable: then the lines are dropped
		// rather than printed raw.
		log.SetOutput(io.Discard)
		return func() { log.SetOutput(stderrSyncer{}) }
	}
	return undo
}

// EncoderConfig is the zap encoder configuration of Concord's logs:
// etcd's keys ("level", "ts", "caller", "msg"), lower-case levels, etcd's
// timestamp format and durations as strings ("1.5s").
func EncoderConfig() zapcore.EncoderConfig {
	return zapcore.EncoderConfig{
		TimeKey:        "ts",
		LevelKey:       "level",
		NameKey:        "logger",
		CallerKey:      "caller",
		MessageKey:     "msg",
		StacktraceKey:  "stacktrace",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     encodeTime,
		EncodeDuration: zapcore.StringDurationEncoder,
		EncodeCaller:   zapcore.ShortCallerEncoder,
	}
}

// encodeTime writes microsecond UTC-offset timestamps as etcd does
// ("2006-01-02T15:04:05.000000Z0700").
func encodeTime(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendString(t.Format("2006-01-02T15:04:05.000000Z0700"))
}
