// Autopilot: the leader keeps the Raft membership in step with what gossip sees, like Consul's
// autopilot. Pure: the caller (Node, on the leader) describes the membership, the leader's
// replication progress and the servers gossip knows; Autopilot answers with at most one
// membership change (Raft takes them one at a time) and why.
//
// Rules, checked in this order on every call:
//   1. An earlier change is not committed yet: nothing (one at a time).
//   2. A member that left gracefully (gossip `left`) is removed at once. Never the leader
//      itself: a leaving leader hands leadership over first, and its successor removes it.
//   3. A learner that has been failed for dead_server_ms is removed.
//   4. A learner that is healthy, caught up (its match index within max_lag_entries of the
//      commit index, heard from recently) and has been so for stabilization_ms is promoted,
//      while there are fewer than max_voters voters.
//   5. A voter that has been failed for dead_server_ms is removed, but only if at least
//      min_voters remain and no more than (voters - 1) / 2 voters are failed: when more are
//      down than a quorum can spare, the cluster must stop (writes fail with a no-quorum error)
//      rather than shrink itself around the survivors. Never the leader itself.
//   6. A server of this cluster that gossip shows alive and that is not a member is added as a
//      learner (a new server, or one with a new data folder: a new server id).
// "Failed" means gossip shows no live member with that server id: dead, or gone (reaped, or
// the name now announces another server id because its data folder was replaced).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "raft/types.h"

namespace conclave::agent {

struct AutopilotOptions {
  size_t min_voters = 3;              // never remove failed voters below this many
  size_t max_voters = 5;              // promote learners while there are fewer voters
  int64_t dead_server_ms = 10000;     // failed this long: removed (rules 3 and 5)
  int64_t stabilization_ms = 2000;    // healthy and caught up this long: promoted (rule 4)
  raft::Index max_lag_entries = 256;  // caught up: match index >= commit - this
};

enum class ServerHealth : uint8_t { alive = 0, failed = 1, left = 2 };

// One server of this cluster as gossip shows it.
struct AutopilotServer {
  raft::NodeId id = raft::kNoNode;
  std::string name;
  ServerHealth health = ServerHealth::alive;
};

struct AutopilotInput {
  raft::NodeId self = raft::kNoNode;  // the leader
  raft::Membership membership;
  bool change_pending = false;        // a membership entry is not committed yet
  raft::Index commit_index = 0;
  std::vector<raft::PeerProgress> progress;  // the leader's, one per member
  // Peers heard from longer ago than this many ticks are not caught up.
  uint64_t max_ticks_since_heard = 0;
  // Servers gossip knows with this cluster's id (alive, dead or left). Members of the
  // membership that are missing here count as failed.
  std::vector<AutopilotServer> servers;
  int64_t now_ms = 0;
};

struct AutopilotDecision {
  std::optional<raft::MembershipChange> change;
  std::string reason;  // for the log: what is changed and why
};

class Autopilot {
 public:
  explicit Autopilot(AutopilotOptions options) : options_(options) {}

  // Pure apart from remembering since when each server has been failed or healthy.
  AutopilotDecision decide(const AutopilotInput& input);

  const AutopilotOptions& options() const { return options_; }

 private:
  AutopilotOptions options_;
  // Since when each server has been failed (absent: not failed), and healthy and caught up
  // (absent: not both).
  std::map<raft::NodeId, int64_t> failed_since_ms_;
  std::map<raft::NodeId, int64_t> ready_since_ms_;
};

}  // namespace conclave::agent
