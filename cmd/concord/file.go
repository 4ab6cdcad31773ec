package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/concord-kv/concord/config"
)

// tlsKeys maps the keys of etcd's client-transport-security and
// peer-transport-security YAML blocks to the flags they stand for: index 0
// for the client block, 1 for the peer block. Empty means the block has no
// such flag (handled in applyTLSBlock).
var tlsKeys = map[string][2]string{
	"cert-file":                    {"cert-file", "peer-cert-file"},
	"key-file":                     {"key-file", "peer-key-file"},
	"client-cert-file":             {"client-cert-file", "peer-client-cert-file"},
	"client-key-file":              {"client-key-file", "peer-client-key-file"},
	"client-cert-auth":             {"client-cert-auth", "peer-client-cert-auth"},
	"trusted-ca-file":              {"trusted-ca-file", "peer-trusted-ca-file"},
	"auto-tls":                     {"auto-tls", "peer-auto-tls"},
	"crl-file":                     {"client-crl-file", "peer-crl-file"},
	"allowed-cn":                   {"", "peer-cert-allowed-cn"},
	"allowed-hostname":             {"client-cert-allowed-hostname", "peer-cert-allowed-hostname"},
	"skip-client-san-verification": {"", "peer-skip-client-san-verification"},
}

// applyFile reads the YAML config file at path, whose keys are etcd's flag
// names (TLS under client-transport-security / peer-transport-security,
// as in etcd's etcd.conf.yml.sample), and sets the flags of fs from it.
// Values use the flag syntax, with YAML lists joined by commas; as in etcd
// (which decodes the file as JSON), an integer given for a Go duration
// flag counts nanoseconds, while "5s" style strings are accepted too.
// Keys that name no flag are warned about and skipped; empty values are
// skipped. discovery-fallback is skipped with a warning too: etcd's file
// has no such field, so the sample's 'proxy' must not fail start-up.
func applyFile(fs *pflag.FlagSet, cfg *config.Config, path string, lg *zap.Logger) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config-file: %w", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("--config-file %s: %s", path, oneLine(err.Error()))
	}
	for _, key := range slices.Sorted(maps.Keys(doc)) {
		val := doc[key]
		if val == nil {
			continue
		}
		switch key {
		case "client-transport-security", "peer-transport-security":
			if err := applyTLSBlock(fs, cfg, path, key, val, lg); err != nil {
				return err
			}
			continue
		case "experimental-snapshot-catch-up-entries":
			// etcd's YAML tag for this field differs from its flag name.
			key = "experimental-snapshot-catchup-entries"
		case "discovery-fallback":
			// A command-line-only flag in etcd: its config file has no such
			// field, so etcd ignores the key (etcd.conf.yml.sample sets it
			// to 'proxy', which the flag would reject).
			lg.Warn("config file key has no effect; --discovery-fallback is a command-line flag",
				zap.String("path", path), zap.String("key", key), zap.Any("value", val))
			continue
		}
		if err := setFromYAML(fs, path, key, key, val, lg); err != nil {
			return err
		}
	}
	return nil
}

func applyTLSBlock(fs *pflag.FlagSet, cfg *config.Config, path, block string, val any, lg *zap.Logger) error {
	m, ok := val.(map[string]any)
	if !ok {
		return fmt.Errorf("--config-file %s: %s must be a mapping", path, block)
	}
	side := 0
	if block == "peer-transport-security" {
		side = 1
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if v == nil {
			continue
		}
		names, known := tlsKeys[k]
		switch {
		case !known:
			lg.Warn("unrecognized key in config file; ignored", zap.String("path", path), zap.String("key", block+"."+k))
		case side == 0 && k == "allowed-cn":
			// etcd has no flag for allowed client CNs; only the file sets it.
			s, err := yamlScalar("strings", v)
			if err != nil {
				return fmt.Errorf("--config-file %s: %s.%s: %w", path, block, k, err)
			}
			if err := (stringsValue{&cfg.ClientTLS.AllowedCN}).Set(s); err != nil {
				return fmt.Errorf("--config-file %s: %s.%s: %w", path, block, k, err)
			}
		case names[side] == "":
			lg.Warn("key not supported in this block of the config file; ignored", zap.String("path", path), zap.String("key", block+"."+k))
		default:
			if err := setFromYAML(fs, path, block+"."+k, names[side], v, lg); err != nil {
				return err
			}
		}
	}
	return nil
}

// setFromYAML sets flag name from the YAML value v found under key.
func setFromYAML(fs *pflag.FlagSet, path, key, name string, v any, lg *zap.Logger) error {
	f := fs.Lookup(name)
	if f == nil || name == "config-file" || name == "version" {
		lg.Warn("unrecognized key in config file; ignored", zap.String("path", path), zap.String("key", key))
		return nil
	}
	s, err := yamlScalar(f.Value.Type(), v)
	if err != nil {
		return fmt.Errorf("--config-file %s: %s: %w", path, key, err)
	}
	if err := fs.Set(name, s); err != nil {
		return fmt.Errorf("--config-file %s: invalid value %q for %s: %s", path, s, key, oneLine(err.Error()))
	}
	return nil
}

// yamlScalar renders a decoded YAML value as flag text for a flag of type
// typ (pflag's Value.Type()).
func yamlScalar(typ string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		if typ == "duration" {
			return time.Duration(x).String(), nil
		}
		return strconv.Itoa(x), nil
	case uint64:
		if typ == "duration" {
			return time.Duration(x).String(), nil
		}
		return strconv.FormatUint(x, 10), nil
	case float64:
		if typ == "duration" {
			return time.Duration(x).String(), nil
		}
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			s, err := yamlScalar("string", e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	case time.Time:
		return x.Format(time.RFC3339Nano), nil
	default:
		return "", fmt.Errorf("unexpected value of type %T", v)
	}
}
