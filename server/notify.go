package server

import (
	"os"

	"github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"
)

// notifySystemd tells systemd (Type=notify units, deploy/systemd) that the
// member is ready: READY=1 on the unixgram socket $NOTIFY_SOCKET, with
// etcd's log lines and etcd's library. Run calls it once the member has
// published itself and serves its client listeners, so a unit ordered
// After=concord.service starts against a member that answers. Nothing is
// sent (or logged) when $NOTIFY_SOCKET is unset.
func notifySystemd(lg *zap.Logger) {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return
	}
	lg.Info("notifying init daemon")
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		lg.Error("failed to notify init daemon", zap.Error(err))
		return
	}
	lg.Info("successfully notified init daemon")
}
