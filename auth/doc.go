// Package auth keeps etcd's access control: users, roles, the key-range
// permissions granted to roles, the enabled flag and the auth revision, and
// the tokens that identify a caller (as etcd's AuthStore and its simple and
// JWT token providers).
//
// # State machine
//
// The users, roles, enabled flag and revision are replicated state, stored
// under storage.PrefixAuth inside the replicated range, so raft snapshots
// and Concord's snapshot file carry them. They change only through
// committed InternalRaftRequest auth entries, applied by the apply loop
// (Store.Apply). The auth revision grows by one with every change that can
// alter a permission decision, as etcd's; a request authorised against an
// older revision is refused in the apply loop with ErrAuthOldRevision, so no
// stale decision commits.
//
// Passwords are bcrypt hashes. They are computed on the member that
// received the request (HashPassword), never in the apply loop; the apply
// loop stores the hash it is given.
//
// # Tokens
//
// A token names a user and the auth revision it was issued at. The simple
// provider ("simple") keeps opaque random tokens in each member's memory,
// expiring after the TTL since last use; the token is chosen by the member
// that received Authenticate and travels in the committed entry, so every
// member learns it and a leader change does not invalidate it. The JWT
// provider ("jwt,...") signs self-contained tokens any member can verify.
//
// # Goroutines
//
// The apply loop is the only writer (Apply, Load). Any goroutine may call
// the read side: Enabled, Revision, the Is*Permitted checks, CheckPassword,
// AuthInfoFromContext and the user and role reads.
package auth
