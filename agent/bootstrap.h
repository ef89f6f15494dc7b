// Bootstrap: how the first servers of a new cluster agree on its voter set, so that servers
// can never form two clusters out of overlapping sets, whatever -bootstrap-expect says and
// however many servers start.
//
// The rule is a one-shot, unanimous promise:
//   1. A server started with -bootstrap-expect N, in no cluster yet, watches the alive servers
//      in gossip. When it sees exactly N (itself included), all started with the same N, none
//      already in a cluster, and that set has not changed for settle_ms, it PROMISES the set.
//      The promise is persisted before it is announced (in the server's gossip metadata, as a
//      digest), and it is never changed or withdrawn.
//   2. It starts Raft with its promised set S once every member of S is alive and announces a
//      promise of S, or as soon as any member of S announces that it runs S (it saw every
//      promise). The cluster id is the digest of S.
// Why it is safe: Raft needs every member of a started set to have promised it, and a server
// promises once. Two different started sets therefore share no server: with N servers each,
// any two sets drawn from fewer than 2N servers overlap, so at most one of them can start. Two
// disjoint sets have different cluster ids, and agents refuse Raft messages from another
// cluster, so they are two clusters, never one split in two.
// What it costs: a set whose members promised differently never starts; every server of it
// says so (naming the server that promised otherwise) until an operator restarts the servers
// that never started Raft with empty data folders and the right -bootstrap-expect.
//
// Refusals, each reported in status and the log: more than N servers alive; a server started
// with a different -bootstrap-expect; a cluster that already exists (a server that sees one
// never bootstraps: it waits to be added to that cluster); a promise conflict.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/records.h"

namespace conclave::agent {

// One alive server as gossip shows it (decoded from its metadata).
struct ServerView {
  std::string name;
  uint64_t server_id = 0;
  uint64_t cluster_id = 0;
  int bootstrap_expect = 0;
  uint64_t promise_digest = 0;  // 0: no promise announced
};

struct BootstrapInput {
  uint64_t self_server_id = 0;
  int expect = 0;                       // this server's -bootstrap-expect (> 0)
  bool waiting_to_join = false;         // -join given and no other member reached yet
  std::vector<ServerView> alive_servers;  // this server included
  std::optional<store::BootstrapPromise> own_promise;  // persisted, announced or not
  int64_t now_ms = 0;
};

enum class BootstrapAction : uint8_t {
  wait,     // nothing to do yet (`report` says why when it is a refusal)
  promise,  // persist `promise`, then announce it
  start,    // start Raft with the promised set as voters and cluster id `cluster_id`
};

struct BootstrapDecision {
  BootstrapAction action = BootstrapAction::wait;
  store::BootstrapPromise promise;  // promise / start: the set
  uint64_t cluster_id = 0;          // start
  std::string report;               // why it waits (empty: nothing worth reporting)
  bool refusal = false;             // the report is a refusal (counted and logged loudly)
};

// The digest of a server set: order-independent, never 0. Also the new cluster's id.
uint64_t server_set_digest(const std::vector<store::ServerRecord>& servers);

class BootstrapPlanner {
 public:
  explicit BootstrapPlanner(int64_t settle_ms) : settle_ms_(settle_ms) {}

  // Pure apart from remembering since when the seen set has been stable.
  BootstrapDecision decide(const BootstrapInput& input);

 private:
  int64_t settle_ms_;
  uint64_t stable_digest_ = 0;
  int64_t stable_since_ms_ = 0;
};

}  // namespace conclave::agent
