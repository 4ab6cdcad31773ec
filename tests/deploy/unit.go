package deploy

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// unitFile is a parsed systemd unit: for each section, its settings in
// file order (a key set twice appears twice), with continuation lines
// (a trailing backslash) joined by one space, as systemd.syntax(7) reads
// them.
type unitFile map[string][][2]string

// parseUnit reads the unit file at path.
func parseUnit(path string) (unitFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	var pending string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: not a setting: %q", path, line)
		}
		u[section] = append(u[section], [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return u, sc.Err()
}

// get returns the last value of key in section, "" when unset.
func (u unitFile) get(section, key string) string {
	v := ""
	for _, kv := range u[section] {
		if kv[0] == key {
			v = kv[1]
		}
	}
	return v
}

// parseEnvFile reads a systemd EnvironmentFile: KEY=value lines, # and ;
// comments, optional double quotes around a value.
func parseEnvFile(path string) (map[string]string, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	env := map[string]string{}
	var order []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, nil, fmt.Errorf("%s: not KEY=value: %q", path, line)
		}
		env[k] = strings.Trim(v, `"`)
		order = append(order, k)
	}
	return env, order, nil
}

var unitVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// execArgs splits an ExecStart value into words and expands ${VAR} (inside
// a word) and $VAR (a whole word, split on spaces) from env, as
// systemd.service(5) does. A variable that env lacks is an error, so a
// unit naming a variable its environment file does not set fails the test.
func execArgs(line string, env map[string]string) ([]string, error) {
	var args []string
	var missing []string
	for _, w := range strings.Fields(line) {
		if m := unitVar.FindStringSubmatch(w); m != nil && m[2] != "" && m[0] == w {
			v, ok := env[m[2]]
			if !ok {
				missing = append(missing, m[2])
			}
			args = append(args, strings.Fields(v)...)
			continue
		}
		args = append(args, unitVar.ReplaceAllStringFunc(w, func(ref string) string {
			name := strings.Trim(ref, "${}")
			v, ok := env[name]
			if !ok {
				missing = append(missing, name)
			}
			return v
		}))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("variables not in the environment file: %v", missing)
	}
	return args, nil
}
