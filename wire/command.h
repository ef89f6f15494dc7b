// State machine commands as plain structs: what agent/ puts in a Raft log entry's data.
//
// Encoded with FlatBuffers (wire/command.fbs), because log entries are persisted and shipped
// between agents: the format is append-only like every other wire format.
//
// Every command carries the time the leader stamped into it (`stamp_ms`, the state machine's
// only clock) and, for writes a client asked for, the client identity and sequence number that
// make a retried command take effect once (state_machine/dedup_table.h).
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "wire/client_messages.h"

namespace conclave::wire {

struct PutCommand {
  std::string key;
  std::string value;
  // Fenced write: applied only while `guard_token` is the token of a current holder of
  // `guard_lock` (empty: unguarded).
  std::string guard_lock;
  uint64_t guard_token = 0;
  // Compare-and-set: applied only if the key's mod revision is cas_revision (0: only if the
  // key does not exist).
  bool cas = false;
  uint64_t cas_revision = 0;
  bool operator==(const PutCommand&) const = default;
};

// A transaction (wire::KvTxnRequest: comparisons, then the success or failure operations).
struct TxnCommand {
  KvTxnRequest txn;
  bool operator==(const TxnCommand&) const = default;
};

// Deletes `key`, or with `prefix` every key that starts with it.
struct DeleteCommand {
  std::string key;
  bool prefix = false;
  bool operator==(const DeleteCommand&) const = default;
};

// A read through the log (protocol version 1 answered gets this way; kept so that old log
// entries still decode). Reads are now confirmed by ReadIndex and add no entries.
struct GetCommand {
  std::string key;
  bool operator==(const GetCommand&) const = default;
};

// A session of the agent `node` (in its boot `boot_id`). ttl_ms == 0: it lives until its
// agent ends it (its client connection closed, or it was released) or the cluster sees the
// agent fail or restart. ttl_ms > 0: also expires without a renewal within ttl_ms.
struct SessionCreateCommand {
  std::string node;
  uint64_t boot_id = 0;
  uint64_t ttl_ms = 0;
  std::string description;
  bool operator==(const SessionCreateCommand&) const = default;
};

enum class SessionEndReason : uint8_t {
  released = 0,      // its owner asked (explicit release, or the client connection closed)
  node_failed = 1,   // gossip declared its agent failed
  node_left = 2,     // its agent left the cluster
  node_restarted = 3,  // its agent came back with a new boot id
  expired = 4,       // a TTL session was not renewed in time
  node_unknown = 5,  // its agent is absent from the leader's gossip view and silent
};

const char* session_end_reason_name(SessionEndReason reason);

// Ends a session at its owner's request: its locks are released with no lock-delay.
struct SessionDestroyCommand {
  uint64_t session = 0;
  bool operator==(const SessionDestroyCommand&) const = default;
};

struct SessionRenewCommand {
  uint64_t session = 0;
  bool operator==(const SessionRenewCommand&) const = default;
};

// Proposed by the leader when gossip says an agent failed, left or restarted: every session
// of `node` whose boot id is `boot_id` (0: any boot) ends, and the lock slots they held stay
// blocked for each lock's lock-delay.
struct InvalidateNodeCommand {
  std::string node;
  uint64_t boot_id = 0;
  SessionEndReason reason = SessionEndReason::node_failed;
  bool operator==(const InvalidateNodeCommand&) const = default;
};

// Acquire one slot of lock `name` (a mutex when limit == 1, a semaphore of `limit` slots)
// for `session`. wait: queue (FIFO) when no slot is free; else fail at once.
struct LockAcquireCommand {
  std::string name;
  uint64_t session = 0;
  uint32_t limit = 1;
  bool wait = false;
  uint32_t lock_delay_ms = 0;
  bool operator==(const LockAcquireCommand&) const = default;
};

struct LockReleaseCommand {
  std::string name;
  uint64_t session = 0;
  uint64_t token = 0;   // 0: the session's hold, whichever; else only the hold with it
  bool operator==(const LockReleaseCommand&) const = default;
};

// Stops waiting for `name` (the waiter gave up). If the slot was granted meanwhile, the
// grant stands and the answer says so.
struct LockCancelCommand {
  std::string name;
  uint64_t session = 0;
  bool operator==(const LockCancelCommand&) const = default;
};

// Time passes: the leader proposes one when a session TTL or a lock-delay is due.
struct TickCommand {
  bool operator==(const TickCommand&) const = default;
};

using CommandOp = std::variant<PutCommand, GetCommand, SessionCreateCommand,
                               SessionDestroyCommand, SessionRenewCommand,
                               InvalidateNodeCommand, LockAcquireCommand, LockReleaseCommand,
                               LockCancelCommand, TickCommand, DeleteCommand, TxnCommand>;

struct Command {
  int64_t stamp_ms = 0;       // the proposing leader's clock (state machine time source)
  uint64_t client_id = 0;     // who asked (an agent's boot id); 0: a leader's own command
  uint64_t sequence = 0;      // that client's sequence number for this request
  uint64_t ack_below = 0;     // every sequence below this one has been answered to the client
  CommandOp op;
  bool operator==(const Command&) const = default;
};

}  // namespace conclave::wire
