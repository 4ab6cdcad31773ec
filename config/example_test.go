package config_test

import (
	"fmt"

	"github.com/concord-kv/concord/config"
)

// A three-member cluster as a systemd unit for etcd describes it.
func ExampleConfig_Validate() {
	c := config.DefaultConfig()
	c.Name = "n2"
	c.DataDir = "/var/lib/etcd"
	c.InitialAdvertisePeerURLs, _ = config.ParseURLs("http://10.0.0.2:2380")
	c.ListenPeerURLs, _ = config.ParseURLs("http://10.0.0.2:2380")
	c.InitialCluster, _ = config.ParseInitialCluster("n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380")
	fmt.Println(c.Validate())

	c.ElectionTimeout = 4 * c.HeartbeatInterval
	fmt.Println(c.Validate())
	// Output:
	// <nil>
	// --election-timeout[400ms] should be at least as 5 times as --heartbeat-interval[100ms]
}

// Settings Concord accepts but does not act on yet are listed, for the
// server to warn about.
func ExampleConfig_Deferred() {
	c := config.DefaultConfig()
	c.ForceNewCluster = true
	fmt.Println(c.Deferred())
	// Output:
	// [force-new-cluster]
}
