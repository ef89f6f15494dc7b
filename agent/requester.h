// Requester: how a request that needs the cluster leaves this agent. Every agent, server or
// client, is an origin: its local clients' kv, session and lock requests (and its own internal
// ones, such as keepalives) go to the leader through here.
//
// - Exactly-once: a write gets this agent's client identity (its boot id) and the next
//   sequence number; every re-send carries the same pair, so the state machine applies it once
//   (state_machine/dedup_table.h). `ack_below` tells it which answers may be forgotten.
// - No hang at failover: an attempt goes to the leader this agent knows (or, without one, to an
//   alive server, which redirects). It is sent again at once when the leader changes or the
//   connection to the target fails, after a short back-off when the answer is "no leader yet",
//   and when an attempt stays unanswered for resend_after_ms (plus its wait, for a watch's
//   long poll, which the leader holds until a change or the wait's end).
// - The deadline is the only ambiguous end: a write whose deadline passes is answered
//   timed_out ("may still be applied").
//
// Pure: no I/O, time passed in. Node routes its sends (to a peer, or to this node's own
// LeaderService when it leads) and delivers its answers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wire/client_messages.h"
#include "wire/peer_messages.h"

namespace conclave::agent {

// Where an answer goes: a local client connection and its request id, or (connection 0) an
// internal consumer identified by `request_id`.
struct ReplyTo {
  uint64_t connection_id = 0;
  uint64_t request_id = 0;
  bool operator==(const ReplyTo&) const = default;
  bool operator<(const ReplyTo& other) const {
    return connection_id != other.connection_id ? connection_id < other.connection_id
                                                : request_id < other.request_id;
  }
};

struct RequesterOptions {
  uint64_t client_id = 1;               // this agent's boot id
  int64_t resend_after_ms = 1000;       // an attempt unanswered this long is sent again
  int64_t no_leader_backoff_ms = 50;    // after "no leader yet", or a redirect loop
  int max_immediate_redirects = 2;      // redirects followed at once before pacing
  int64_t unreachable_backoff_ms = 500; // a target whose connection failed is avoided this long
  size_t max_outstanding = 10000;
};

// True for requests that change the replicated state (they get a sequence number).
bool is_write(const wire::ClientRequestBody& body);

class Requester {
 public:
  explicit Requester(RequesterOptions options);

  // Sends `request` to the cluster; its answer (or a timeout at deadline_ms) comes back through
  // take_answers() for `reply_to`. Refused at once (answered unavailable) beyond
  // max_outstanding.
  void submit(ReplyTo reply_to, wire::ClientRequest request, int64_t deadline_ms,
              int64_t now_ms);
  // Stops trying (the client went away, or its owner gave up). No answer will come.
  void abandon(const ReplyTo& reply_to);
  void abandon_connection(uint64_t connection_id);

  void on_response(const std::string& from, const wire::ForwardResponse& response,
                   int64_t now_ms);
  // The connection to `name` failed: its attempts go elsewhere now.
  void on_unreachable(const std::string& name, int64_t now_ms);
  // The leader as this node's Raft knows it (empty: none). A change re-sends at once every
  // request that went elsewhere (the old leader may be gone with it).
  void set_leader(const std::string& name, int64_t now_ms);
  // The servers alive in gossip, candidates when no leader is known.
  void set_servers(std::vector<std::string> names);
  void tick(int64_t now_ms);

  struct Send {
    std::string to;  // an agent name (possibly this agent's own)
    wire::ForwardRequest forward;
  };
  struct Answer {
    ReplyTo reply_to;
    wire::ClientResponse response;
    // When the answered attempt was sent, and whether the answer proves that a legitimate
    // leader received it (a committed write or a confirmed read; agent/lock_timing.h).
    int64_t sent_at_ms = 0;
    bool confirmed = false;
  };
  std::vector<Send> take_sends();
  std::vector<Answer> take_answers();

  const std::string& leader() const { return leader_; }
  size_t outstanding() const { return outstanding_.size(); }
  uint64_t resends() const { return resends_; }

 private:
  struct Outstanding {
    ReplyTo reply_to;
    wire::ClientRequest request;
    uint64_t sequence = 0;      // 0: a read
    int64_t deadline_ms = 0;
    std::string target;         // where the last attempt went
    int64_t sent_at_ms = -1;    // -1: not sent yet (waiting for a target or a back-off)
    int64_t send_after_ms = 0;
    uint64_t forward_id = 0;    // of the last attempt
    int redirects = 0;          // redirects followed at once since the last paced send
  };

  void send(Outstanding& item, int64_t now_ms);
  // Sends after no_leader_backoff_ms (from tick()).
  void send_later(Outstanding& item, int64_t now_ms);
  // The leader when known, else the next alive server. `spread`: the next alive server in any
  // case (a linearizable read's first attempt: any follower serves it after the leader's
  // ReadIndex confirmation, which spreads the reads' work over the servers).
  std::string choose_target(int64_t now_ms, bool spread = false);
  uint64_t ack_below() const;
  // How long an attempt may stay unanswered before it is sent again.
  int64_t resend_after_ms(const wire::ClientRequest& request) const;
  // `sent_at_ms`: when the answered attempt was sent (not necessarily the latest attempt: an
  // earlier one may be the one answered).
  void finish(std::map<ReplyTo, Outstanding>::iterator it, wire::ClientResponse response,
              bool confirmed, int64_t sent_at_ms);
  struct Attempt {
    ReplyTo reply_to;
    int64_t sent_at_ms = 0;
  };

  RequesterOptions options_;
  std::map<ReplyTo, Outstanding> outstanding_;
  std::map<uint64_t, Attempt> by_forward_id_;  // every attempt not answered yet
  std::map<std::string, int64_t> avoid_until_ms_;
  std::vector<std::string> servers_;
  size_t next_server_ = 0;
  std::string leader_;
  uint64_t next_sequence_ = 1;
  uint64_t next_forward_id_ = 1;
  uint64_t resends_ = 0;
  std::vector<Send> sends_;
  std::vector<Answer> answers_;
};

}  // namespace conclave::agent
