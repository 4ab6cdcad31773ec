// Command concord-bench is Concord's load generator, compatible with etcd's
// tools/benchmark; see package benchcmd for its commands and package bench
// for the workloads.
package main
