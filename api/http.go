package api

import (
	"github.com/concord-kv/concord/config"

	"context"
	"encoding/json"
	"expvar"
	"net/http"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// HTTPHandler serves etcd's plain HTTP endpoints on the client and metrics
// listeners: GET /health (JSON {"health":"true|false","reason":...}, 200 or
// 503; ?serializable=true skips the leader and linearizable read check),
// /livez and /readyz (text "ok"), and /version (JSON with etcdserver,
// etcdcluster and storage versions, plus concord's own version), and
// /debug/vars (the process's expvar JSON, "cmdline" and "memstats", which
// etcd serves on its client listener too).
func (s *Server) HTTPHandler(concordVersion string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", s.serveHealth)
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

func (s *Server) serveProbe(w http.ResponseWriter, r *http.Request, live bool) {
	// etcd's /readyz fails its data_corruption check under CORRUPT.
	if !live && s.cfg.Alarms != nil && s.cfg.Alarms.Active(pb.AlarmType_CORRUPT) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("data_corruption failed: alarm activated: CORRUPT\n"))
		return
	}
	ok, reason := s.check(r.Context(), live)
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(reason + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
