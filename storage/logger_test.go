package storage

import (
	"path/filepath"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestZapLogger(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	db, err := Open(filepath.Join(t.TempDir(), "db"), Options{Logger: ZapLogger(zap.New(core).Named("pebble"))})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Pebble reports the WALs it replays when it opens ("Found 0 WALs").
	found := logs.FilterMessageSnippet("WALs").All()
	if len(found) == 0 {
		t.Fatalf("no Pebble open line among %d entries: %v", logs.Len(), logs.All())
	}
	e := found[0]
	if e.LoggerName != "pebble" || e.Level != zapcore.InfoLevel || e.Message[len(e.Message)-1] == '\n' {
		t.Errorf("entry = %+v", e)
	}

	ZapLogger(zap.New(core)).Errorf("disk %s\n", "full")
	if got := logs.FilterLevelExact(zapcore.ErrorLevel).All(); len(got) != 1 || got[0].Message != "disk full" {
		t.Errorf("error entries = %v", got)
	}
}
