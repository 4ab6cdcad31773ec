package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/concord-kv/concord/config"
)

// envPrefix is the prefix of the environment variables that set flags:
// --initial-cluster-state is ETCD_INITIAL_CLUSTER_STATE (etcd's rule, so
// systemd EnvironmentFiles written for etcd keep working).
const envPrefix = "ETCD"

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
)

// parse turns the command line args (without the program name) and the
// environment env ("KEY=value" entries, as os.Environ returns them) into a
// validated Config, following etcd's precedence: --config-file (or
// ETCD_CONFIG_FILE) alone if given; otherwise command-line flags, then
// ETCD_* variables for the flags not on the command line, then defaults.
//
// It returns a nil Config when the process should exit with the returned
// status: 0 after --version or --help (printed on stdout), 1 after an
// error (one line on stderr naming the flag). Warnings (shadowed or
// unrecognized variables, deprecated spellings, ignored flags) are JSON log
// lines on stderr. parse writes nothing to disk.
func parse(args, env []string, stdout, stderr io.Writer) (*config.Config, int) {
	// With the caller, as etcd's own lines ("caller":"flags/flag.go:94");
	// etcd's tests/e2e TestServerJsonLogging wants the key on every line.
	lg := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(config.EncoderConfig()), zapcore.AddSync(stderr), zap.InfoLevel), zap.AddCaller())
	cfg, exit, err := load(args, env, stdout, lg)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "concord: %s\n", oneLine(err.Error()))
		return nil, exitError
	case exit:
		return nil, exitOK
	}
	return cfg, exitOK
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// load does parse's work; exit reports that --version or --help was
// served.
func load(args, env []string, stdout io.Writer, lg *zap.Logger) (cfg *config.Config, exit bool, err error) {
	cfg = config.DefaultConfig()
	st := newFlagState()
	fs := newFlagSet(cfg, st)
	if err := fs.Parse(normalizeArgs(args)); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printUsage(stdout, fs)
			return nil, true, nil
		}
		return nil, false, err
	}
	if fs.NArg() > 0 {
		switch arg := fs.Arg(0); arg {
		case "gateway", "grpc-proxy":
			return nil, false, fmt.Errorf("the %q sub-command is not implemented", arg)
		default:
			return nil, false, fmt.Errorf("%q is not a valid flag", arg)
		}
	}
	if st.version {
		printVersion(stdout)
		return nil, true, nil
	}

	vars := envMap(env)
	file := st.configFile
	if file == "" {
		file = vars[envName("config-file")]
	}
	fromFile := file != ""
	if fromFile {
		var others []string
		fs.Visit(func(f *pflag.Flag) {
			if f.Name != "config-file" {
				others = append(others, "--"+f.Name)
			}
		})
		lg.Info("loaded server configuration, other configuration command line flags and environment variables will be ignored if provided",
			zap.String("path", file), zap.Strings("ignored-flags", others))
		cfg = config.DefaultConfig()
		st = newFlagState()
		fs = newFlagSet(cfg, st)
		if err := applyFile(fs, cfg, file, lg); err != nil {
			return nil, false, err
		}
	} else if err := applyEnv(fs, vars, lg); err != nil {
		return nil, false, err
	}
	if err := finish(fs, cfg, st, fromFile, lg); err != nil {
		return nil, false, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, false, err
	}
	return cfg, false, nil
}

func newFlagState() *flagState {
	return &flagState{gates: map[string]bool{}, gateFlags: map[string]bool{}}
}

// normalizeArgs rewrites single-dash long flags ("-name=x", "-name x"),
// which etcd's Go flag package accepts, to pflag's "--name"; arguments
// after "--" are left alone.
func normalizeArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] >= 'a' && a[1] <= 'z' {
			a = "-" + a
		}
		out = append(out, a)
	}
	return out
}

func printUsage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage:\n\n  concord [flags]\n\nStart a Concord member (flags, ETCD_* environment variables and config files as etcd's).\n\nFlags:\n%s", fs.FlagUsages())
}

// printVersion prints etcd's --version lines ("etcd Version: <the etcd
// API version>", Git SHA, Go version, OS/arch, in etcd's order, so scripts
// and operators reading etcd's output keep working), then Concord's own
// version.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "etcd Version: %s\n", config.APIVersion)
	fmt.Fprintf(w, "Git SHA: %s\n", config.GitSHA)
	fmt.Fprintf(w, "Go Version: %s\n", runtime.Version())
	fmt.Fprintf(w, "Go OS/Arch: %s/%s\n", runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "Concord Version: %s\n", config.Version)
}

// envName is the variable that sets flag name: ETCD_<NAME_IN_UPPER_SNAKE>.
func envName(flag string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// applyEnv sets every flag not given on the command line from its
// non-empty ETCD_* variable. A variable whose flag was given is ignored
// with a warning (the command line wins); an ETCD_* variable naming no
// flag is warned about, as etcd does.
func applyEnv(fs *pflag.FlagSet, vars map[string]string, lg *zap.Logger) error {
	used := map[string]bool{envName("config-file"): true}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		key := envName(f.Name)
		val, ok := vars[key]
		if !ok || err != nil || f.Name == "config-file" || f.Name == "version" {
			return
		}
		used[key] = true
		if val == "" {
			return
		}
		if f.Changed {
			lg.Warn("environment variable is shadowed by the command-line flag; the flag wins",
				zap.String("environment-variable", key), zap.String("flag", "--"+f.Name))
			return
		}
		if serr := fs.Set(f.Name, val); serr != nil {
			err = fmt.Errorf("invalid value %q for %s (--%s): %w", val, key, f.Name, serr)
			return
		}
		lg.Info("recognized and used environment variable", zap.String("variable-name", key), zap.String("variable-value", val))
	})
	if err != nil {
		return err
	}
	for _, key := range slices.Sorted(maps.Keys(vars)) {
		if !strings.HasPrefix(key, envPrefix+"_") || used[key] {
			continue
		}
		if key == envName("version") {
			lg.Warn("cannot set special environment variable", zap.String("key", key), zap.String("value", vars[key]))
			continue
		}
		lg.Warn("unrecognized environment variable", zap.String("environment-variable", key+"="+vars[key]))
	}
	return nil
}

// finish resolves what depends on several flags once every source has been
// applied: renamed-flag conflicts, feature gates (with their 3.5 flags and
// --lease-checkpoint), and etcd's derived defaults (data dir from the name,
// initial cluster from the name and advertised peer URLs, no default
// advertised client URL once listen URLs are given on the command line).
func finish(fs *pflag.FlagSet, cfg *config.Config, st *flagState, fromFile bool, lg *zap.Logger) error {
	for _, r := range renamedFlags {
		if !fs.Changed(r.old) {
			continue
		}
		if fs.Changed(r.new) {
			return fmt.Errorf("cannot set --%s and --%s at the same time, please use --%s only", r.old, r.new, r.new)
		}
		lg.Warn(fmt.Sprintf("--%s is deprecated in etcd 3.6 and removed in 3.7; use --%s instead", r.old, r.new))
	}

	gates := config.DefaultFeatureGates()
	for _, g := range gateFlags {
		v, set := st.gateFlags[g.gate]
		if !set {
			continue
		}
		if _, both := st.gates[g.gate]; both {
			return fmt.Errorf("cannot specify both --%s and --feature-gates=%s=...; use --feature-gates only", g.flag, g.gate)
		}
		lg.Warn(fmt.Sprintf("--%s is deprecated in etcd 3.6 and removed in 3.7; use --feature-gates=%s=%t instead", g.flag, g.gate, v))
		gates[g.gate] = v
	}
	maps.Copy(gates, st.gates)

	explicit, gateSet := st.gates[config.GateLeaseCheckpoint]
	if v, ok := st.gateFlags[config.GateLeaseCheckpoint]; ok {
		explicit, gateSet = v, true
	}
	if fs.Changed("lease-checkpoint") {
		if gateSet && explicit != cfg.LeaseCheckpoint {
			return fmt.Errorf("--lease-checkpoint=%t conflicts with LeaseCheckpoint=%t set by --feature-gates or --experimental-enable-lease-checkpoint", cfg.LeaseCheckpoint, explicit)
		}
	} else if gateSet {
		cfg.LeaseCheckpoint = explicit
	}
	gates[config.GateLeaseCheckpoint] = cfg.LeaseCheckpoint
	cfg.FeatureGates = gates

	if cfg.DataDir == "" {
		cfg.DataDir = config.DefaultDataDir(cfg.Name)
	}
	if !fs.Changed("initial-cluster") {
		if cfg.Discovery.Enabled() {
			cfg.InitialCluster = nil
		} else {
			cfg.InitialCluster = config.InitialClusterFromName(cfg.Name, cfg.InitialAdvertisePeerURLs)
		}
	}
	if !fromFile && fs.Changed("listen-client-urls") && !fs.Changed("advertise-client-urls") {
		cfg.AdvertiseClientURLs = nil
	}
	return nil
}
