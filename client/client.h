// The C++ client library: talks to the local agent over its Unix socket.
//
// Blocking and simple on purpose: one connection, one request at a time, a deadline on every
// call. Finding the socket follows one documented order (find_socket), and every failure comes
// back as an Error whose message says what was tried and what to do.
//
// Locks, in short:
//
//   auto client = Client::connect(path).value();
//   uint64_t session = client.session_create({}, 5000).value();   // ends when `client` closes
//   auto grant = client.lock_acquire({.name = "db/primary", .session = session,
//                                     .wait_ms = 10000}, 5000);
//   if (grant.ok()) {
//     // grant.value().token is the fencing token: pass it to what the lock protects
//     // (e.g. kv_put_fenced). Then watch the lock while using it:
//     auto event = client.next_lock_event(100);  // renewed / jeopardy / lost / released
//     // Stop using the resource when event says lost, or when the monotonic clock
//     // (CLOCK_MONOTONIC, ms) passes the latest valid_until_ms: no event may mean the agent is
//     // gone or paused, and the lock can then move to someone else soon after.
//     client.lock_release("db/primary", session, 5000);
//   }
//
// A session bound to the connection (the default) ends when the connection closes, and its
// locks are released at once. The cluster also ends it when it sees this host's agent fail,
// leave or restart; then its locks move to the next waiter after their lock-delay, and the
// holder has been told "lost" before that.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "wire/client_messages.h"

namespace conclave::client {

// Where a dev agent started in the current folder puts its socket.
constexpr const char* kDevSocketPath = "conclave-data/agent.sock";
// Where a system agent puts its socket.
constexpr const char* kSystemSocketPath = "/run/conclave/agent.sock";
constexpr const char* kSocketEnvironmentVariable = "CONCLAVE_SOCKET";

// The socket to use: `explicit_path` when given, else $CONCLAVE_SOCKET, else the dev socket in
// the current folder, else the system socket. The last two must exist to be chosen. When none
// is found the error lists every place looked at.
Result<std::string> find_socket(const std::optional<std::string>& explicit_path);

class Client {
 public:
  // Connects to the agent's socket. Errors name the path and suggest starting an agent.
  static Result<Client> connect(const std::string& socket_path);
  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  ~Client();

  // Sends one request and waits up to timeout_ms for its answer. The request's timeout_ms is
  // set to the same deadline so the agent gives up at the same time.
  Result<wire::ClientResponse> call(wire::ClientRequestBody body, uint32_t timeout_ms);

  // Convenience calls; an agent-side error becomes the Error.
  // Linearizable by default; `stale` answers from the local agent's server state at once
  // (possibly behind the leader; a client agent asks a server, which answers the same way).
  Result<wire::KvGetResponse> kv_get(const std::string& key, uint32_t timeout_ms,
                                     bool stale = false);
  Result<wire::KvPutResponse> kv_put(const std::string& key, const std::string& value,
                                     uint32_t timeout_ms);
  // Compare-and-set: written only if the key's mod revision is `mod_revision` (0: only if the
  // key does not exist); else ErrorCode::conflict, whose message names the current mod
  // revision, and nothing is written.
  Result<wire::KvPutResponse> kv_put_if(const std::string& key, const std::string& value,
                                        uint64_t mod_revision, uint32_t timeout_ms);
  // Deletes `key`, or with `prefix` every key that starts with it (at most
  // state::kMaxKeysPerDelete at once). Deleting nothing is not an error: deleted == 0.
  Result<wire::KvDeleteResponse> kv_delete(const std::string& key, bool prefix,
                                           uint32_t timeout_ms);
  // A transaction (see wire::KvTxnRequest); `succeeded` says which branch ran. Refused whole
  // (nothing written) for a key written twice in a branch or a store limit.
  Result<wire::KvTxnResponse> kv_txn(const wire::KvTxnRequest& txn, uint32_t timeout_ms);
  // One step of a watch (see wire::KvWatchRequest): the changes from request.from_revision on,
  // waiting up to request.wait_ms for one; `timeout_ms` must exceed wait_ms. Ask again from
  // watch_revision + 1 (also after an error other than not_found, e.g. a leader change).
  Result<wire::KvWatchResponse> kv_watch(const wire::KvWatchRequest& request,
                                         uint32_t timeout_ms);
  // One page of the keys starting with `prefix` (see wire::KvListRequest): ask again with
  // after = the last key while `more`. Linearizable.
  Result<wire::KvListResponse> kv_list(const wire::KvListRequest& request, uint32_t timeout_ms);
  // Applied only while `token` is the fencing token of a current holder of `lock`; else
  // ErrorCode::conflict and nothing is written.
  Result<wire::KvPutResponse> kv_put_fenced(const std::string& key, const std::string& value,
                                            const std::string& lock, uint64_t token,
                                            uint32_t timeout_ms);
  Result<wire::MembersResponse> members(uint32_t timeout_ms);
  // Starts a membership watch on this connection (give the watch a connection of its own):
  // answers the members now; every change the agent's gossip sees after that arrives through
  // next_member_event, in the order the agent saw them, until the connection closes.
  Result<wire::MembersResponse> members_watch(uint32_t timeout_ms);
  // The next membership change of the watch, or nullopt when none came within timeout_ms.
  Result<std::optional<wire::MemberEvent>> next_member_event(uint32_t timeout_ms);
  Result<wire::StatusResponse> status(uint32_t timeout_ms);
  // Asks the local agent to leave the cluster gracefully and stop (as SIGTERM does). Answered
  // as soon as the leave has begun; the agent exits within a few seconds.
  Status leave(uint32_t timeout_ms);

  // Sessions. Returns the new session's id.
  struct SessionOptions {
    uint64_t ttl_ms = 0;             // > 0: also expires unless renewed within it
    std::string description;
    bool bind_to_connection = true;  // false needs a TTL
  };
  Result<uint64_t> session_create(const SessionOptions& options, uint32_t timeout_ms);
  Status session_destroy(uint64_t session, uint32_t timeout_ms);
  Status session_renew(uint64_t session, uint32_t timeout_ms);
  Result<wire::SessionListResponse> session_list(uint32_t timeout_ms);

  // Raft administration, answered by the leader. `target` is a node name or a server id (hex,
  // as `raft peers` shows it). raft_transfer_leader with an empty target picks the most
  // caught-up voter; it returns once the transfer started. raft_remove_peer returns once the
  // removal is in the leader's log (in force from then on, thesis §4.1).
  Result<wire::RaftPeersResponse> raft_peers(uint32_t timeout_ms);
  Status raft_transfer_leader(const std::string& target, uint32_t timeout_ms);
  Status raft_remove_peer(const std::string& target, uint32_t timeout_ms);

  // Locks. lock_acquire waits up to options.wait_ms for a slot (0: try once, failing with
  // ErrorCode::conflict when none is free) and returns the grant event (its token is the
  // fencing token); ErrorCode::timed_out when the wait ran out. timeout_ms bounds the rest
  // (reaching the cluster).
  struct LockOptions {
    std::string name;
    uint64_t session = 0;
    uint32_t limit = 1;           // > 1: a semaphore with that many slots
    uint32_t wait_ms = 0;
    int32_t lock_delay_ms = -1;   // < 0: the default (1 s)
  };
  Result<wire::LockEvent> lock_acquire(const LockOptions& options, uint32_t timeout_ms);
  // The next event about a held lock (renewed, jeopardy, lost, released), waiting at most
  // timeout_ms; std::nullopt when none came. Events are queued while other calls run.
  Result<std::optional<wire::LockEvent>> next_lock_event(uint32_t timeout_ms);
  // Drops the queued events (for callers that do not watch them). At most kMaxQueuedLockEvents
  // are kept: beyond that the oldest are dropped.
  void discard_lock_events() { lock_events_.clear(); }
  static constexpr size_t kMaxQueuedLockEvents = 1024;
  Status lock_release(const std::string& name, uint64_t session, uint32_t timeout_ms);
  Result<wire::LockListResponse> lock_list(const std::string& prefix, uint32_t timeout_ms);

  // The connection's file descriptor, to wait on it with poll() together with other events
  // (`conclave lock` does). Data may also already be buffered: check next_lock_event(0).
  int fd() const { return fd_; }

  // Sends raw bytes as one frame (tests use it to send malformed requests).
  Status send_raw_frame(const std::string& payload);
  // Reads the next response frame.
  Result<wire::ClientResponse> read_response(uint32_t timeout_ms);

 private:
  explicit Client(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status write_all(const std::string& bytes);
  Result<wire::ClientResponse> call_waiting(wire::ClientRequestBody body, uint32_t timeout_ms,
                                            uint32_t extra_wait_ms);
  // Reads one frame from the buffer, or waits for more up to `deadline_ms` (monotonic).
  Result<std::optional<wire::ClientResponse>> read_one(int64_t deadline_ms);
  int fd_ = -1;
  std::string path_;
  uint64_t next_request_id_ = 1;
  std::string buffer_;
  std::deque<wire::LockEvent> lock_events_;  // events that arrived while waiting for others
};

}  // namespace conclave::client
