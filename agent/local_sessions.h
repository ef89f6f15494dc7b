// LocalSessions: the sessions this agent owns, seen from the agent. It handles its local
// clients' session and lock requests (sending them to the leader through the Requester), knows
// which client connection each session is bound to, and keeps every lock its clients hold
// honest about time:
//
// - Contact: every answer that proves a legitimate leader received a request (a committed write
//   or a ReadIndex-confirmed read) moves `confirmed_contact_ms` to that request's send time;
//   keepalives (confirmed reads, every kKeepaliveIntervalMs while it has sessions) keep it moving.
// - A held lock is valid until lock_valid_until_ms(confirmed contact, its lock-delay)
//   (agent/lock_timing.h). Its holder gets a stream of LockEvents on the acquire request:
//   granted, then renewed as the validity moves on, jeopardy after kJeopardyAfterMs without
//   confirmed contact, and lost when the validity runs out, which is before the cluster could
//   grant the slot to anyone else, even when this agent is cut off from every server.
// - A connection that closes ends the sessions bound to it at once (no lock-delay); a session
//   the cluster ended (its agent seen failed, or its TTL expired) makes its locks lost.
// - A lock wait that runs out is cancelled in the cluster; if the slot was granted meanwhile,
//   the grant stands and is answered.
//
// Pure, like Node.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/requester.h"
#include "wire/client_messages.h"

namespace conclave::agent {

struct LocalClientReply {
  uint64_t connection_id = 0;
  wire::ClientResponse response;
};

struct LocalSessionsCounters {
  uint64_t locks_granted = 0;
  uint64_t locks_lost = 0;
  uint64_t jeopardy_events = 0;
  uint64_t sessions_ended_by_cluster = 0;
  uint64_t keepalives_sent = 0;
};

class LocalSessions {
 public:
  // Sessions bound to one client connection, at most (created or being created).
  static constexpr size_t kMaxSessionsPerConnection = 64;

  LocalSessions() = default;

  // True for the requests this class handles (sessions and locks).
  static bool handles(const wire::ClientRequestBody& body);
  void on_request(uint64_t connection_id, const wire::ClientRequest& request, int64_t now_ms,
                  Requester& requester);
  // Answers for the internal ReplyTos it submitted (connection 0).
  void on_answer(const Requester::Answer& answer, int64_t now_ms, Requester& requester);
  // A legitimate leader received a request this agent sent at sent_at_ms.
  void on_contact_confirmed(int64_t sent_at_ms);
  void connection_closed(uint64_t connection_id, int64_t now_ms, Requester& requester);
  void tick(int64_t now_ms, Requester& requester);

  std::vector<LocalClientReply> take_replies() { return std::exchange(replies_, {}); }
  size_t session_count() const { return sessions_.size(); }
  size_t hold_count() const { return holds_.size(); }
  int64_t confirmed_contact_ms() const { return confirmed_contact_ms_; }
  const LocalSessionsCounters& counters() const { return counters_; }

 private:
  enum class OpKind : uint8_t {
    create_session, destroy_session, renew_session, list, acquire, release, cancel_wait,
    keepalive, cleanup_release, cleanup_destroy,
  };
  struct Op {
    OpKind kind = OpKind::list;
    uint64_t connection_id = 0;  // the client waiting for the answer (0: none)
    uint64_t request_id = 0;
    uint64_t session = 0;
    std::string lock;
    uint64_t token = 0;           // cleanup_release: the hold it gives back (never a later one)
    bool bind = false;            // create_session: bind to the connection
    int64_t ttl_ms = 0;           // create_session: 0 = no TTL
    int64_t lock_delay_ms = 0;    // acquire
    int64_t wait_until_ms = -1;   // acquire with a wait
    uint64_t cancel_token = 0;    // acquire: the cancel_wait op, once sent
    uint64_t acquire_token = 0;   // cancel_wait: the acquire it cancels
    bool client_answered = false;
    int64_t sent_at_ms = 0;
    int64_t give_up_ms = 0;       // cleanup ops retry until then
  };
  struct LocalSession {
    uint64_t connection_id = 0;   // 0: not bound (a TTL session)
    int64_t known_since_ms = 0;
    int64_t ttl_ms = 0;           // 0: no TTL
    // Send time of the newest committed create or renew: the TTL runs from after it.
    int64_t renewed_send_ms = 0;
  };
  struct Hold {
    uint64_t connection_id = 0;
    uint64_t request_id = 0;      // the acquire request: events are its responses
    uint64_t token = 0;
    int64_t lock_delay_ms = 0;
    bool jeopardy = false;
    int64_t valid_until_sent_ms = 0;
  };
  using HoldKey = std::pair<uint64_t, std::string>;  // (session, lock)

  uint64_t submit(Op op, wire::ClientRequestBody body, int64_t deadline_ms, int64_t now_ms,
                  Requester& requester);
  void reply(uint64_t connection_id, uint64_t request_id, ErrorCode code, std::string message,
             wire::ClientResponseBody body = std::monostate{}, bool more = false);
  void grant(const Op& acquire, uint64_t token, int64_t now_ms);
  // Releases a slot nobody uses any more, retrying until kCleanupRetryMs has passed. Only the
  // hold granted with `token`: an attempt may be applied late (after a timeout, or re-sent as
  // a new request), when the same session may hold the lock again under a newer token, and
  // must not release that one (the nemesis found two holders at once that way).
  void release_in_background(uint64_t session, const std::string& lock, uint64_t token,
                             int64_t now_ms, Requester& requester);
  void lose(const HoldKey& key, const std::string& why, int64_t now_ms, Requester& requester,
            bool release_in_cluster);
  void event(const HoldKey& key, Hold& hold, wire::LockEventKind kind, std::string message,
             bool more);
  // The earlier of the contact bound and, for a TTL session, the TTL bound (lock_timing.h).
  int64_t valid_until(const HoldKey& key, const Hold& hold) const;
  bool ttl_bound(const HoldKey& key, const Hold& hold) const;

  std::map<uint64_t, LocalSession> sessions_;
  std::map<HoldKey, Hold> holds_;
  std::map<uint64_t, Op> ops_;  // by internal token
  uint64_t next_token_ = 1;
  int64_t confirmed_contact_ms_ = -1;
  int64_t next_keepalive_ms_ = 0;
  std::vector<LocalClientReply> replies_;
  LocalSessionsCounters counters_;
};

}  // namespace conclave::agent
