package apply

import "errors"

var (
	// ErrKeyNotFound: a Put with ignore_value or ignore_lease on a key that
	// does not exist (etcd's "etcdserver: key not found").
	ErrKeyNotFound = errors.New("apply: key not found")
	// ErrLeaseNotFound: a Put names a lease that does not exist (etcd's
	// "etcdserver: requested lease not found").
	ErrLeaseNotFound = errors.New("apply: requested lease not found")
	// ErrUnknownRequest: a committed entry carries a request kind this
	// member does not implement.
	ErrUnknownRequest = errors.New("apply: request not supported")
)

var (
	// ErrNoSpace: the NOSPACE alarm is active and the request would grow
	// the database (etcd's "etcdserver: mvcc: database space exceeded").
	ErrNoSpace = errors.New("apply: mvcc: database space exceeded")
	// ErrCorrupt: the CORRUPT alarm is active and the request writes
	// (etcd's "etcdserver: corrupt cluster").
	ErrCorrupt = errors.New("apply: corrupt cluster")
)
