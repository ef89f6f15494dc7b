// The client protocol as plain structs: what `conclave` (the CLI or the C++ client library)
// sends its local agent over the Unix socket, and the answers.
//
// Framing: each message is one length-prefixed frame (see framing.h) holding a FlatBuffers
// ClientRequest / ClientResponse (wire/client.fbs). Every request carries a request_id chosen by
// the client; every response names the request it answers. A response with more = true is
// followed by further responses to the same request (room for streamed replies such as watches).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "wire/state_records.h"

namespace conclave::wire {

struct KvGetRequest {
  std::string key;
  // Answer from the local server's state, possibly behind the leader (`kv get -stale`);
  // false: linearizable (ReadIndex on the leader).
  bool stale = false;
  bool operator==(const KvGetRequest&) const = default;
};
struct KvPutRequest {
  std::string key;
  std::string value;
  // Fenced write: applied only while `guard_token` is the token of a current holder of
  // `guard_lock` (empty: unguarded). A stale token is refused with ErrorCode::conflict.
  std::string guard_lock;
  uint64_t guard_token = 0;
  // Compare-and-set (`kv put -cas REV`): applied only if the key's mod revision is
  // cas_revision (0: only if the key does not exist); otherwise refused with
  // ErrorCode::conflict naming the key's current mod revision.
  bool cas = false;
  uint64_t cas_revision = 0;
  bool operator==(const KvPutRequest&) const = default;
};
// Deletes `key`, or with `prefix` every key that starts with it (`kv del KEY [-prefix]`).
struct KvDeleteRequest {
  std::string key;
  bool prefix = false;
  bool operator==(const KvDeleteRequest&) const = default;
};
// A transaction (`kv txn`): if every comparison holds, the `success` operations run, else the
// `failure` ones, atomically and at one revision (none if nothing is written). At most
// kMaxTxnCompares comparisons and kMaxTxnOps operations per branch; a key written twice in
// one branch is refused. Enum values are on the wire: append only.
enum class TxnTarget : uint8_t { value = 0, version = 1, create_revision = 2, mod_revision = 3 };
enum class TxnCompareOp : uint8_t { equal = 0, not_equal = 1, less = 2, greater = 3 };
enum class TxnOpType : uint8_t { put = 0, del = 1, get = 2 };
constexpr size_t kMaxTxnCompares = 128;
constexpr size_t kMaxTxnOps = 128;
struct TxnCompare {
  std::string key;
  TxnTarget target = TxnTarget::value;
  TxnCompareOp op = TxnCompareOp::equal;
  std::string value;    // TxnTarget::value (a missing key compares as no value at all)
  uint64_t number = 0;  // the other targets (0 for a missing key)
  bool operator==(const TxnCompare&) const = default;
};
struct TxnOp {
  TxnOpType type = TxnOpType::get;
  std::string key;
  std::string value;    // put
  bool prefix = false;  // del
  bool operator==(const TxnOp&) const = default;
};
struct KvTxnRequest {
  std::vector<TxnCompare> compares;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
  bool operator==(const KvTxnRequest&) const = default;
};

// One step of `kv watch KEY|PREFIX [-prefix] [-from-rev N]`: the changes at revisions from
// `from_revision` on (0: from the next change), in revision order, at most max_events (0:
// kDefaultWatchEvents); the leader waits up to wait_ms (at most kMaxWatchWaitMs) for one.
// Ask again from watch_revision + 1: that way a watch sees every change once, in order,
// across leader changes and reconnections. A revision older than the history kept is
// refused with not_found naming the oldest available.
constexpr uint32_t kDefaultWatchEvents = 1000;
constexpr uint32_t kMaxWatchEvents = 10000;
constexpr uint32_t kMaxWatchWaitMs = 30000;
struct KvWatchRequest {
  std::string key;
  bool prefix = false;
  uint64_t from_revision = 0;
  uint32_t wait_ms = 0;
  uint32_t max_events = 0;
  bool operator==(const KvWatchRequest&) const = default;
};

// `members -watch` (see MemberEvent below).
struct MembersWatchRequest {
  bool operator==(const MembersWatchRequest&) const = default;
};

// Keys starting with `prefix`, in key order, a page at a time (`kv ls [PREFIX]`): at most
// `limit` keys (0: kDefaultListLimit; at most kMaxListLimit) and about kMaxListPageBytes of
// keys and values, starting after the key `after`. A linearizable read.
constexpr uint32_t kDefaultListLimit = 1000;
constexpr uint32_t kMaxListLimit = 10000;
constexpr size_t kMaxListPageBytes = 2 * 1024 * 1024;
struct KvListRequest {
  std::string prefix;
  std::string after;
  uint32_t limit = 0;
  bool keys_only = false;
  bool operator==(const KvListRequest&) const = default;
};
struct MembersRequest {
  bool operator==(const MembersRequest&) const = default;
};
struct StatusRequest {
  bool operator==(const StatusRequest&) const = default;
};

// A session of this agent. bind_to_connection: it ends when the connection that created it
// closes (the holding process exited), with no lock-delay. ttl_ms > 0: it also expires
// unless renewed within ttl_ms (for programs that reconnect: bind_to_connection false).
// Either way it ends when the cluster sees this agent fail, leave or restart.
struct SessionCreateRequest {
  uint64_t ttl_ms = 0;
  std::string description;
  bool bind_to_connection = true;
  bool operator==(const SessionCreateRequest&) const = default;
};
struct SessionDestroyRequest {
  uint64_t session = 0;
  bool operator==(const SessionDestroyRequest&) const = default;
};
struct SessionRenewRequest {
  uint64_t session = 0;
  bool operator==(const SessionRenewRequest&) const = default;
};
struct SessionListRequest {
  bool operator==(const SessionListRequest&) const = default;
};
// Acquire one slot of `name` for `session` (a session of this agent). limit 1: a mutex;
// limit N: a semaphore of N slots. wait_ms 0: try once (ErrorCode::conflict when held);
// else wait in the lock's FIFO queue up to wait_ms (ErrorCode::timed_out, nothing held).
// lock_delay_ms < 0: the default (1 s). Answered with a stream of LockEvent responses
// (`more` set) for as long as the lock is held: granted, renewed (the validity moves on),
// jeopardy, and finally lost or released.
struct LockAcquireRequest {
  std::string name;
  uint64_t session = 0;
  uint32_t limit = 1;
  uint32_t wait_ms = 0;
  int32_t lock_delay_ms = -1;
  bool operator==(const LockAcquireRequest&) const = default;
};
struct LockReleaseRequest {
  std::string name;
  uint64_t session = 0;
  // 0: whatever hold the session has; else only the hold granted with this token, so that a
  // release sent for an old hold (and applied late) can never end a newer one.
  uint64_t token = 0;
  bool operator==(const LockReleaseRequest&) const = default;
};
struct LockListRequest {
  std::string prefix;
  bool operator==(const LockListRequest&) const = default;
};
// Agent to leader only (refused on the local socket): proves this agent is in contact with a
// confirmed leader (ReadIndex) and lists its sessions still alive.
struct SessionKeepaliveRequest {
  bool operator==(const SessionKeepaliveRequest&) const = default;
};
// Agent to leader only: stop waiting for `name` (the waiter's time ran out).
struct LockCancelRequest {
  std::string name;
  uint64_t session = 0;
  bool operator==(const LockCancelRequest&) const = default;
};

enum class RaftAdminOp : uint8_t {
  peers = 0,            // list voters and learners with their replication state
  transfer_leader = 1,  // hand leadership to `target` (empty: the most caught-up voter)
  remove_peer = 2,      // remove `target` from the membership
};
// Answered by the leader (forwarded like any request).
struct RaftAdminRequest {
  RaftAdminOp op = RaftAdminOp::peers;
  std::string target;  // node name or server id (hex)
  bool operator==(const RaftAdminRequest&) const = default;
};

// `conclave leave`: answered by the local agent itself, which then leaves the cluster
// gracefully (gossip `left`, leadership handed over) and stops.
struct LeaveRequest {
  bool operator==(const LeaveRequest&) const = default;
};

// `conclave keyring list | install KEY | use KEY | remove KEY` (agent/keyring_service.h): the
// local agent does it, asks every alive member to do the same, and answers with what each
// did. `key` is a base64 cluster key (crypto/keyring.h); empty for list.
enum class KeyringOp : uint8_t { list = 0, install = 1, use = 2, remove = 3 };
struct KeyringRequest {
  KeyringOp op = KeyringOp::list;
  std::string key;
  bool operator==(const KeyringRequest&) const = default;
};

using ClientRequestBody =
    std::variant<KvGetRequest, KvPutRequest, MembersRequest, StatusRequest, SessionCreateRequest,
                 SessionDestroyRequest, SessionRenewRequest, SessionListRequest,
                 LockAcquireRequest, LockReleaseRequest, LockListRequest,
                 SessionKeepaliveRequest, LockCancelRequest, RaftAdminRequest, LeaveRequest,
                 KvDeleteRequest, KvListRequest, KvTxnRequest, MembersWatchRequest,
                 KvWatchRequest, KeyringRequest>;

struct ClientRequest {
  uint64_t request_id = 0;
  uint32_t timeout_ms = 0;  // 0 = the agent's default
  ClientRequestBody body;
  bool operator==(const ClientRequest&) const = default;
};

struct KvGetResponse {
  bool found = false;
  std::string value;
  uint64_t create_revision = 0;
  uint64_t mod_revision = 0;
  uint64_t version = 0;  // puts since the key was created (1 after the first)
  bool operator==(const KvGetResponse&) const = default;
};
struct KvPutResponse {
  uint64_t revision = 0;
  bool operator==(const KvPutResponse&) const = default;
};
struct KvListResponse {
  std::vector<KvEntry> items;  // in key order; values empty with keys_only
  bool more = false;           // further keys match: ask again with after = the last key
  uint64_t revision = 0;       // the store's revision this page was read at
  bool operator==(const KvListResponse&) const = default;
};
struct TxnOpResult {
  TxnOpType type = TxnOpType::get;
  uint64_t revision = 0;  // put
  uint64_t deleted = 0;   // del
  bool found = false;     // get
  KvEntry entry;          // get, when found
  bool operator==(const TxnOpResult&) const = default;
};
struct KvTxnResponse {
  bool succeeded = false;  // every comparison held
  uint64_t revision = 0;   // the store's revision after the transaction
  std::vector<TxnOpResult> results;  // one per operation of the branch that ran
  bool operator==(const KvTxnResponse&) const = default;
};
enum class KvEventType : uint8_t { put = 0, del = 1 };
struct KvEvent {
  KvEventType type = KvEventType::put;
  KvEntry entry;  // a delete: key, and mod_revision = the delete's revision
  bool operator==(const KvEvent&) const = default;
};
struct KvWatchResponse {
  std::vector<KvEvent> events;   // revision order
  uint64_t watch_revision = 0;   // every change up to here was looked at
  uint64_t oldest_revision = 0;  // the oldest revision a watch can still start from
  bool operator==(const KvWatchResponse&) const = default;
};
struct KvDeleteResponse {
  uint64_t revision = 0;  // the store's revision after the delete (unchanged if none matched)
  uint64_t deleted = 0;   // keys deleted
  bool operator==(const KvDeleteResponse&) const = default;
};
struct MemberInfo {
  std::string name;
  std::string address;
  std::string state;   // alive | suspect | dead | left
  std::string role;    // server | client
  std::string rpc_address;
  uint64_t incarnation = 0;
  std::map<std::string, std::string> tags;  // -tag key=value (wire/node_meta.h limits)
  bool operator==(const MemberInfo&) const = default;
};
struct MembersResponse {
  std::vector<MemberInfo> members;
  bool operator==(const MembersResponse&) const = default;
};
// One change in the local agent's gossip view, streamed to a `members -watch` (more = true)
// after the MembersResponse snapshot that starts the watch.
struct MemberEvent {
  std::string type;  // joined | updated | suspect | failed | left | reaped
  MemberInfo member;
  bool operator==(const MemberEvent&) const = default;
};
struct Counter {
  std::string name;
  uint64_t value = 0;
  bool operator==(const Counter&) const = default;
};
struct StatusResponse {
  std::string node_name;
  bool server = false;
  std::string raft_role;    // leader | follower | candidate | none
  uint64_t term = 0;
  std::string leader_name;  // empty when no leader is known
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t last_log_index = 0;
  std::vector<std::string> voters;
  std::vector<Counter> counters;
  std::vector<std::string> learners;  // catching up before they are promoted to voters
  std::string server_id;    // hex; empty for a client agent
  std::string cluster_id;   // hex; empty until part of a cluster
  std::string raft_report;  // why Raft is not running (bootstrap wait or refusal, damage)
  bool operator==(const StatusResponse&) const = default;
};

struct SessionCreateResponse {
  uint64_t session = 0;
  bool operator==(const SessionCreateResponse&) const = default;
};
struct SessionInfo {
  uint64_t id = 0;
  std::string node;
  uint64_t ttl_ms = 0;
  int64_t created_ms = 0;   // cluster time (the leaders' stamps)
  int64_t renewed_ms = 0;
  std::string description;
  std::vector<std::string> locks;  // held
  bool operator==(const SessionInfo&) const = default;
};
struct SessionListResponse {
  std::vector<SessionInfo> sessions;
  bool operator==(const SessionListResponse&) const = default;
};

enum class LockEventKind : uint8_t {
  granted = 0,   // held now, with `token`
  renewed = 1,   // still held: the validity moved on to valid_until_ms
  jeopardy = 2,  // the agent lost contact with the servers: the lock may be lost soon
  lost = 3,      // must be considered lost now (before anyone else can be granted it)
  released = 4,  // released as asked (the last event)
};
const char* lock_event_kind_name(LockEventKind kind);

struct LockEvent {
  std::string name;
  uint64_t session = 0;
  uint64_t token = 0;           // the fencing token of this grant
  LockEventKind kind = LockEventKind::granted;
  // The holder must treat the lock as lost at this time of the host's monotonic clock
  // (CLOCK_MONOTONIC, ms) unless a later event moves it: it stays ahead of the earliest moment
  // the cluster could grant the slot to someone else (agent/locks DESIGN).
  int64_t valid_until_ms = 0;
  std::string message;          // why, for jeopardy and lost
  bool operator==(const LockEvent&) const = default;
};
struct LockHolderInfo {
  uint64_t session = 0;
  std::string node;
  uint64_t token = 0;
  int64_t since_ms = 0;  // cluster time of the grant
  bool operator==(const LockHolderInfo&) const = default;
};
struct LockWaiterInfo {
  uint64_t session = 0;
  std::string node;
  int64_t since_ms = 0;
  bool operator==(const LockWaiterInfo&) const = default;
};
struct LockInfo {
  std::string name;
  uint32_t limit = 1;
  std::vector<LockHolderInfo> holders;
  std::vector<LockWaiterInfo> waiters;   // FIFO order
  int64_t blocked_until_ms = 0;          // lock-delay after a failed holder (cluster time)
  bool operator==(const LockInfo&) const = default;
};
struct LockListResponse {
  std::vector<LockInfo> locks;
  bool operator==(const LockListResponse&) const = default;
};
struct SessionKeepaliveResponse {
  std::vector<uint64_t> sessions;  // the asking agent's sessions that are still alive
  bool operator==(const SessionKeepaliveResponse&) const = default;
};
struct LockCancelResponse {
  bool granted = false;   // the wait had already ended in a grant, which stands
  uint64_t token = 0;
  bool operator==(const LockCancelResponse&) const = default;
};

struct RaftPeer {
  std::string name;
  std::string server_id;  // hex
  bool voter = false;
  bool leader = false;
  uint64_t match_index = 0;
  int64_t last_contact_ms = 0;
  std::string health;     // alive | suspect | dead | left | unknown (gossip's view)
  bool operator==(const RaftPeer&) const = default;
};
struct RaftPeersResponse {
  std::vector<RaftPeer> peers;
  uint64_t commit_index = 0;
  uint64_t last_index = 0;
  bool operator==(const RaftPeersResponse&) const = default;
};

// One agent's part of a keyring answer: its keys after the operation (base64, primary first),
// or why it could not do it (error_code != ok; an agent that did not answer in time says so).
constexpr size_t kMaxKeyringAgents = 10'000;
constexpr size_t kMaxKeyringKeys = 16;
struct AgentKeyring {
  std::string name;
  ErrorCode error_code = ErrorCode::ok;
  std::string error_message;
  std::vector<std::string> keys;
  bool operator==(const AgentKeyring&) const = default;
};
struct KeyringResponse {
  std::vector<AgentKeyring> agents;  // this agent first
  bool operator==(const KeyringResponse&) const = default;
};

using ClientResponseBody =
    std::variant<std::monostate, KvGetResponse, KvPutResponse, MembersResponse, StatusResponse,
                 SessionCreateResponse, SessionListResponse, LockEvent, LockListResponse,
                 SessionKeepaliveResponse, LockCancelResponse, RaftPeersResponse,
                 KvDeleteResponse, KvListResponse, KvTxnResponse, MemberEvent,
                 KvWatchResponse, KeyringResponse>;

struct ClientResponse {
  uint64_t request_id = 0;
  ErrorCode error_code = ErrorCode::ok;
  std::string error_message;  // empty when error_code == ok
  bool more = false;
  ClientResponseBody body;
  bool operator==(const ClientResponse&) const = default;
};

}  // namespace conclave::wire
