// Package membership keeps the cluster's member records and derives member
// and cluster IDs the way etcd does, so IDs printed by `member list` match
// what an etcd cluster started with the same --initial-cluster and
// --initial-cluster-token would print.
//
// Records live in the replicated keyspace under storage.PrefixMembers and
// are written only by the apply loop. Readers (the Cluster and Maintenance
// services) read the in-memory copy, which a mutex guards.
package membership
