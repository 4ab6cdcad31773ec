// Package bench is Concord's load generator: the library behind
// concord-bench, modelled on etcd's tools/benchmark. It drives any server
// that speaks the etcd v3 API (Concord or etcd itself) through the official
// client go.etcd.io/etcd/client/v3, records the latency of every request and
// summarises the run in the shape of etcd's pkg/report (Summary block,
// response-time histogram, latency percentiles, error distribution), as text
// or JSON.
//
// Workloads: Put, Range, TxnPut, TxnMixed, Watch, WatchGet, WatchLatency,
// LeaseKeepalive and STM follow the benchmark commands of the same names.
// RunTable reproduces the write/read table of the project's seed 002
// (leader vs all members, linearizable vs serializable, 1 and 100 clients)
// against one cluster, or against two clusters side by side with ratios.
//
// Every workload takes its options as a struct and an Env carrying the
// output writer, the progress writer, the clock and the random source, so
// commands run in process and tests drive them without globals.
//
// Goroutines, per workload run:
//   - one producer that hands request indexes (or operations) to workers
//     over a channel buffered to the number of clients, and closes it after
//     Total requests or when the context ends;
//   - one worker per client (--clients) that performs requests and records
//     a Result for each in the Recorder (mutex-guarded);
//   - for Watch/WatchLatency, one receiver per watch channel;
//   - one progress-bar painter while a run lasts, only when Env.Progress is
//     set (a terminal); it stops when the run ends.
//
// All goroutines a run starts have returned when the Run function returns.
package bench
