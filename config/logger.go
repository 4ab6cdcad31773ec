package config

import (
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger builds the zap logger --logger, --log-level, --log-format and
// --log-outputs describe, with etcd's field names ("level", "ts",
// "caller", "msg") and time format, so log lines parse like etcd's.
// Outputs "default" and "systemd/journal" write to stderr (journald output
// is deferred); "stderr" and "stdout" are the streams; anything else is a
// file path opened for appending. Errors wrap ErrInvalid for bad settings
// or report the output that could not be opened.
func (c *Config) NewLogger() (*zap.Logger, error) {
	if err := c.validateLogging(); err != nil {
		return nil, err
	}
	level, err := zapcore.ParseLevel(c.LogLevel)
	if err != nil {
		return nil, invalidf("--log-level: %v", err)
	}
	var outputs []string
	for _, o := range c.LogOutputs {
		switch o {
		case "default", "systemd/journal":
			o = "stderr"
		}
		if !slices.Contains(outputs, o) {
			outputs = append(outputs, o)
		}
	}
	zc := zap.Config{
		Level:            zap.NewAtomicLevelAt(level),
		Encoding:         c.LogFormat,
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
