#include "agent/autopilot.h"

#include <algorithm>
#include <cstdio>

namespace conclave::agent {
namespace {

std::string describe(raft::NodeId id, const std::map<raft::NodeId, std::string>& names) {
  char hex[24];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(id));
  auto name = names.find(id);
  if (name == names.end()) return std::string("server ") + hex;
  return name->second + " (server " + hex + ")";
}

}  // namespace

AutopilotDecision Autopilot::decide(const AutopilotInput& input) {
  std::map<raft::NodeId, ServerHealth> health;
  std::map<raft::NodeId, std::string> names;
  for (const AutopilotServer& server : input.servers) {
    // One id announced by two names (a copied data folder): alive wins, it is reachable.
    auto [it, inserted] = health.emplace(server.id, server.health);
    if (!inserted && server.health == ServerHealth::alive) it->second = ServerHealth::alive;
    names.emplace(server.id, server.name);
  }
  auto health_of = [&](raft::NodeId id) {
    if (id == input.self) return ServerHealth::alive;
    auto found = health.find(id);
    return found == health.end() ? ServerHealth::failed : found->second;
  };
  std::map<raft::NodeId, const raft::PeerProgress*> progress;
  for (const raft::PeerProgress& peer : input.progress) progress[peer.id] = &peer;

  // Bookkeeping first, so that the clocks run whether or not a change is pending.
  std::vector<raft::NodeId> members = input.membership.voters;
  members.insert(members.end(), input.membership.learners.begin(),
                 input.membership.learners.end());
  for (auto it = failed_since_ms_.begin(); it != failed_since_ms_.end();) {
    const bool member = std::find(members.begin(), members.end(), it->first) != members.end();
    it = member ? std::next(it) : failed_since_ms_.erase(it);
  }
  for (auto it = ready_since_ms_.begin(); it != ready_since_ms_.end();) {
    it = input.membership.is_learner(it->first) ? std::next(it) : ready_since_ms_.erase(it);
  }
  for (raft::NodeId id : members) {
    if (health_of(id) == ServerHealth::alive) {
      failed_since_ms_.erase(id);
    } else {
      failed_since_ms_.try_emplace(id, input.now_ms);
    }
  }
  for (raft::NodeId id : input.membership.learners) {
    auto peer = progress.find(id);
    const bool caught_up =
        peer != progress.end() &&
        peer->second->match_index + options_.max_lag_entries >= input.commit_index &&
        peer->second->ticks_since_heard <= input.max_ticks_since_heard;
    if (health_of(id) == ServerHealth::alive && caught_up) {
      ready_since_ms_.try_emplace(id, input.now_ms);
    } else {
      ready_since_ms_.erase(id);
    }
  }

  AutopilotDecision decision;
  if (input.change_pending) return decision;  // rule 1
  auto failed_for_long = [&](raft::NodeId id) {
    auto since = failed_since_ms_.find(id);
    return since != failed_since_ms_.end() &&
           input.now_ms - since->second >= options_.dead_server_ms;
  };
  auto remove = [&](raft::NodeId id, std::string why) {
    decision.change = raft::MembershipChange{raft::MembershipChangeType::remove, id};
    decision.reason = "autopilot: removing " + describe(id, names) + ": " + std::move(why);
    return decision;
  };

  // Rule 2: left gracefully.
  for (raft::NodeId id : members) {
    if (id != input.self && health_of(id) == ServerHealth::left) {
      return remove(id, "it left the cluster gracefully");
    }
  }
  // Rule 3: failed learners.
  for (raft::NodeId id : input.membership.learners) {
    if (failed_for_long(id)) {
      return remove(id, "a learner failed for over " +
                            std::to_string(options_.dead_server_ms) + " ms");
    }
  }
  // Rule 4: promote a ready learner.
  if (input.membership.voters.size() < options_.max_voters) {
    for (raft::NodeId id : input.membership.learners) {
      auto since = ready_since_ms_.find(id);
      if (since != ready_since_ms_.end() &&
          input.now_ms - since->second >= options_.stabilization_ms) {
        decision.change = raft::MembershipChange{raft::MembershipChangeType::promote, id};
        decision.reason = "autopilot: promoting " + describe(id, names) +
                          " to voter: caught up and healthy for " +
                          std::to_string(input.now_ms - since->second) + " ms";
        return decision;
      }
    }
  }
  // Rule 5: failed voters, keeping a safe quorum.
  const size_t voters = input.membership.voters.size();
  size_t failed_voters = 0;
  for (raft::NodeId id : input.membership.voters) {
    if (health_of(id) != ServerHealth::alive) ++failed_voters;
  }
  if (voters - 1 >= options_.min_voters && failed_voters <= (voters - 1) / 2) {
    for (raft::NodeId id : input.membership.voters) {
      if (id != input.self && failed_for_long(id)) {
        return remove(id, "failed for over " + std::to_string(options_.dead_server_ms) +
                              " ms; " + std::to_string(voters - 1) + " voters remain");
      }
    }
  }
  // Rule 6: new servers.
  for (const AutopilotServer& server : input.servers) {
    if (server.health == ServerHealth::alive && !input.membership.contains(server.id) &&
        server.id != raft::kNoNode) {
      decision.change =
          raft::MembershipChange{raft::MembershipChangeType::add_learner, server.id};
      decision.reason = "autopilot: adding " + describe(server.id, names) +
                        " as a learner: a server of this cluster that is not a member";
      return decision;
    }
  }
  return decision;
}

}  // namespace conclave::agent
