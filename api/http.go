package api

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/concord-kv/concord/config"
)

// HTTPHandler serves etcd's plain HTTP endpoints on the client and metrics
// listeners: GET /health (JSON {"health":"true|false","reason":...}, 200 or
// 503; ?serializable=true skips the leader and linearizable read check),
// /livez and /readyz with their per-check sub-paths (see serveProbe), /version (JSON with etcdserver,
// etcdcluster and storage versions, plus concord's own version), and
// /debug/vars (the process's expvar JSON, "cmdline" and "memstats", which
// etcd serves on its client listener too).
func (s *Server) HTTPHandler(concordVersion string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", s.serveHealth)
	mux.HandleFunc("/livez/", func(w http.ResponseWriter, r *http.Request) {
		s.serveProbe(w, r, true)
	})
	mux.HandleFunc("/readyz/", func(w http.ResponseWriter, r *http.Request) {
		s.serveProbe(w, r, false)
	})
	mux.HandleFunc("/livez", func(w http.ResponseWriter, r *http.Request) {
		s.serveProbe(w, r, true)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		s.serveProbe(w, r, false)
	})
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"etcdserver": s.cfg.Version,
			// etcd reports the cluster and storage versions as major.minor.0.
			"etcdcluster": config.MajorMinor(s.cfg.Version) + ".0",
			"storage":     config.MajorMinor(s.cfg.Version) + ".0",
			"concord":     concordVersion,
		})
	})
	return mux
}

type healthResult struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// check runs the health checks etcd's /health runs: a leader exists, then
// a read succeeds (linearizable unless serializable).
func (s *Server) check(ctx context.Context, serializable bool) (bool, string) {
	if !serializable && s.cfg.Raft.Status().Leader == 0 {
		return false, "RAFT NO LEADER"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.Range(ctx, &pb.RangeRequest{Key: []byte("health"), KeysOnly: true, Limit: 1, Serializable: serializable}); err != nil {
		return false, "QUORUM READ FAILED: " + err.Error()
	}
	return true, ""
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	ok, reason := s.checkAlarms(r.URL.Query()["exclude"])
	if ok {
		ok, reason = s.check(r.Context(), r.URL.Query().Get("serializable") == "true")
	}
	res := healthResult{Health: "true", Reason: reason}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		res.Health = "false"
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(res)
}

// checkAlarms is /health's alarm check, as etcd's: any active alarm whose
// type is not excluded (?exclude=NOSPACE) makes the member unhealthy with
// reason "ALARM NOSPACE" or "ALARM CORRUPT".
func (s *Server) checkAlarms(exclude []string) (bool, string) {
	if s.cfg.Alarms == nil {
		return true, ""
	}
	for _, m := range s.cfg.Alarms.Get(pb.AlarmType_NONE) {
		if slices.Contains(exclude, m.Alarm.String()) {
			continue
		}
		switch m.Alarm {
		case pb.AlarmType_NOSPACE, pb.AlarmType_CORRUPT:
			return false, "ALARM " + m.Alarm.String()
		}
		return false, "ALARM UNKNOWN"
	}
	return true, ""
}

// probeCheck is one named check of /livez or /readyz; it returns nil when
// the check passes, else the reason it failed.
type probeCheck struct {
	name string
	run  func(ctx context.Context) error
}

// probeChecks are etcd 3.6's checks: /livez runs serializable_read;
// /readyz runs data_corruption, serializable_read, linearizable_read and
// non_learner (etcd runs them in map order; Concord in this fixed order).
func (s *Server) probeChecks(live bool) []probeCheck {
	read := func(serializable bool) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err := s.Range(ctx, &pb.RangeRequest{Key: []byte("health"), KeysOnly: true, Limit: 1, Serializable: serializable})
			return err
		}
	}
	if live {
		return []probeCheck{{"serializable_read", read(true)}}
	}
	return []probeCheck{
		{"data_corruption", func(context.Context) error {
			if s.cfg.Alarms != nil && s.cfg.Alarms.Active(pb.AlarmType_CORRUPT) {
				return fmt.Errorf("alarm activated: %s", pb.AlarmType_CORRUPT)
			}
			return nil
		}},
		{"serializable_read", read(true)},
		{"linearizable_read", read(false)},
		{"non_learner", func(context.Context) error {
			if s.cfg.Raft.Status().IsLearner {
				return errors.New("not supported for learner")
			}
			return nil
		}},
	}
}

// serveProbe serves /livez and /readyz as etcd 3.6: GET only; every check
// not named in ?exclude= runs, and one line per check ("[+]name ok" or
// "[-]name failed: reason") is the body of a 503 when any fails, and
// precedes "ok" on success only with ?verbose. /livez/<check> and
// /readyz/<check> run that one check.
func (s *Server) serveProbe(w http.ResponseWriter, r *http.Request, live bool) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	root := "/readyz"
	if live {
		root = "/livez"
	}
	checks := s.probeChecks(live)
	if sub := strings.TrimPrefix(r.URL.Path, root+"/"); sub != r.URL.Path && sub != "" {
		i := slices.IndexFunc(checks, func(c probeCheck) bool { return c.name == sub })
		if i < 0 {
			http.NotFound(w, r)
			return
		}
		checks = checks[i : i+1]
	} else {
		exclude := r.URL.Query()["exclude"]
		checks = slices.DeleteFunc(checks, func(c probeCheck) bool { return slices.Contains(exclude, c.name) })
	}
	var out strings.Builder
	failed := false
	for _, c := range checks {
		if err := c.run(r.Context()); err != nil {
			failed = true
			fmt.Fprintf(&out, "[-]%s failed: %v\n", c.name, err)
		} else {
			fmt.Fprintf(&out, "[+]%s ok\n", c.name)
		}
	}
	if failed {
		http.Error(w, out.String(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, ok := r.URL.Query()["verbose"]; ok {
		_, _ = io.WriteString(w, out.String())
	}
	_, _ = io.WriteString(w, "ok\n")
}
