// Autopilot rules (agent/autopilot.h), one at a time, with the clock driven by the test.
#include <catch2/catch.hpp>

#include "agent/autopilot.h"

namespace conclave::agent {
namespace {

using raft::MembershipChangeType;
using raft::NodeId;

AutopilotOptions options() {
  AutopilotOptions result;
  result.min_voters = 3;
  result.max_voters = 5;
  result.dead_server_ms = 10000;
  result.stabilization_ms = 2000;
  result.max_lag_entries = 10;
  return result;
}

// A leader (1) with `voters` and `learners`, every member caught up and heard from, and every
// member alive in gossip unless listed in `failed` / `left`.
AutopilotInput input(std::vector<NodeId> voters, std::vector<NodeId> learners, int64_t now_ms,
                     std::vector<NodeId> failed = {}, std::vector<NodeId> left = {}) {
  AutopilotInput in;
  in.self = 1;
  in.membership.voters = voters;
  in.membership.learners = learners;
  in.commit_index = 100;
  in.max_ticks_since_heard = 40;
  in.now_ms = now_ms;
  std::vector<NodeId> members = voters;
  members.insert(members.end(), learners.begin(), learners.end());
  for (NodeId id : members) {
    in.progress.push_back(raft::PeerProgress{id, false, 100, 101, 0, true});
    ServerHealth health = ServerHealth::alive;
    if (std::find(failed.begin(), failed.end(), id) != failed.end()) health = ServerHealth::failed;
    if (std::find(left.begin(), left.end(), id) != left.end()) health = ServerHealth::left;
    in.servers.push_back(AutopilotServer{id, "s" + std::to_string(id), health});
  }
  return in;
}

bool is(const AutopilotDecision& decision, MembershipChangeType type, NodeId node) {
  return decision.change && decision.change->type == type && decision.change->node == node;
}

TEST_CASE("autopilot: a new server is added as a learner, promoted once stable and caught up") {
  Autopilot autopilot(options());
  AutopilotInput in = input({1, 2, 3}, {}, 0);
  in.servers.push_back(AutopilotServer{4, "s4", ServerHealth::alive});
  AutopilotDecision added = autopilot.decide(in);
  REQUIRE(is(added, MembershipChangeType::add_learner, 4));
  CHECK_THAT(added.reason, Catch::Contains("s4"));

  // As a learner, lagging: not promoted however long it waits.
  in = input({1, 2, 3}, {4}, 1000);
  in.progress.back().match_index = 50;
  CHECK_FALSE(autopilot.decide(in).change);
  in.now_ms = 9000;
  CHECK_FALSE(autopilot.decide(in).change);
  // Caught up: promoted only after stabilization_ms of being caught up and healthy.
  in.progress.back().match_index = 95;
  CHECK_FALSE(autopilot.decide(in).change);
  in.now_ms = 10999;
  CHECK_FALSE(autopilot.decide(in).change);
  in.now_ms = 11000;
  CHECK(is(autopilot.decide(in), MembershipChangeType::promote, 4));
}

TEST_CASE("autopilot: nothing while a change is pending") {
  Autopilot autopilot(options());
  AutopilotInput in = input({1, 2, 3}, {}, 0);
  in.servers.push_back(AutopilotServer{4, "s4", ServerHealth::alive});
  in.change_pending = true;
  CHECK_FALSE(autopilot.decide(in).change);
}

TEST_CASE("autopilot: a learner not heard from recently is not promoted") {
  Autopilot autopilot(options());
  AutopilotInput in = input({1, 2, 3}, {4}, 0);
  in.progress.back().ticks_since_heard = 41;
  CHECK_FALSE(autopilot.decide(in).change);
  in.now_ms = 5000;
  CHECK_FALSE(autopilot.decide(in).change);
}

TEST_CASE("autopilot: promotion stops at max_voters") {
  Autopilot autopilot(options());
  AutopilotInput in = input({1, 2, 3, 4, 5}, {6}, 0);
  CHECK_FALSE(autopilot.decide(in).change);
  in.now_ms = 60000;
  CHECK_FALSE(autopilot.decide(in).change);
}

TEST_CASE("autopilot: a member that left is removed at once, the leader never") {
  Autopilot autopilot(options());
  CHECK(is(autopilot.decide(input({1, 2, 3}, {}, 0, {}, {3})), MembershipChangeType::remove, 3));
  CHECK(is(autopilot.decide(input({1, 2, 3}, {4}, 0, {}, {4})), MembershipChangeType::remove, 4));
  AutopilotInput self_left = input({1, 2, 3}, {}, 0, {}, {1});
  CHECK_FALSE(autopilot.decide(self_left).change);  // self counts as alive: it is leading
}

TEST_CASE("autopilot: a failed voter is removed after the threshold, keeping min_voters") {
  Autopilot autopilot(options());
  // Five voters, one failed: removed once it has been failed for dead_server_ms.
  CHECK_FALSE(autopilot.decide(input({1, 2, 3, 4, 5}, {}, 0, {5})).change);
  CHECK_FALSE(autopilot.decide(input({1, 2, 3, 4, 5}, {}, 9999, {5})).change);
  AutopilotDecision removed = autopilot.decide(input({1, 2, 3, 4, 5}, {}, 10000, {5}));
  REQUIRE(is(removed, MembershipChangeType::remove, 5));
  CHECK_THAT(removed.reason, Catch::Contains("4 voters remain"));

  // Recovering before the threshold restarts its clock.
  Autopilot fresh(options());
  CHECK_FALSE(fresh.decide(input({1, 2, 3, 4, 5}, {}, 0, {5})).change);
  CHECK_FALSE(fresh.decide(input({1, 2, 3, 4, 5}, {}, 5000)).change);
  CHECK_FALSE(fresh.decide(input({1, 2, 3, 4, 5}, {}, 12000, {5})).change);
  CHECK(is(fresh.decide(input({1, 2, 3, 4, 5}, {}, 22000, {5})), MembershipChangeType::remove, 5));

  // Three voters: never below min_voters (3), however long.
  Autopilot three(options());
  CHECK_FALSE(three.decide(input({1, 2, 3}, {}, 0, {3})).change);
  CHECK_FALSE(three.decide(input({1, 2, 3}, {}, 100000, {3})).change);
}

TEST_CASE("autopilot: more failed voters than a quorum can spare are never removed") {
  Autopilot autopilot(options());
  // Four voters with two failed: (4 - 1) / 2 = 1 may be failed for removal to go ahead.
  CHECK_FALSE(autopilot.decide(input({1, 2, 3, 4}, {}, 0, {3, 4})).change);
  CHECK_FALSE(autopilot.decide(input({1, 2, 3, 4}, {}, 60000, {3, 4})).change);
  // Five voters with two failed: each may go, one at a time, down to min_voters.
  Autopilot five(options());
  CHECK_FALSE(five.decide(input({1, 2, 3, 4, 5}, {}, 0, {4, 5})).change);
  CHECK(is(five.decide(input({1, 2, 3, 4, 5}, {}, 10000, {4, 5})), MembershipChangeType::remove,
           4));
  CHECK(is(five.decide(input({1, 2, 3, 5}, {}, 10200, {5})), MembershipChangeType::remove, 5));
}

TEST_CASE("autopilot: a member gossip no longer shows counts as failed") {
  Autopilot autopilot(options());
  // Server 3's disk was replaced: its name now announces server id 6, which is not a member.
  AutopilotInput in = input({1, 2, 3}, {}, 0);
  in.servers.back() = AutopilotServer{6, "s3", ServerHealth::alive};
  CHECK(is(autopilot.decide(in), MembershipChangeType::add_learner, 6));
  // Learner 6 catches up and is promoted (4 voters), then the old id 3 is removed.
  in = input({1, 2, 3}, {6}, 100);
  in.servers.erase(in.servers.begin() + 2);  // no server announces id 3
  CHECK_FALSE(autopilot.decide(in).change);
  in.now_ms = 2100;
  CHECK(is(autopilot.decide(in), MembershipChangeType::promote, 6));
  in = input({1, 2, 3, 6}, {}, 10000);
  in.servers.erase(in.servers.begin() + 2);
  CHECK(is(autopilot.decide(in), MembershipChangeType::remove, 3));
}

TEST_CASE("autopilot: a failed learner is removed after the threshold") {
  Autopilot autopilot(options());
  CHECK_FALSE(autopilot.decide(input({1, 2, 3}, {4}, 0, {4})).change);
  CHECK(is(autopilot.decide(input({1, 2, 3}, {4}, 10000, {4})), MembershipChangeType::remove, 4));
}

}  // namespace
}  // namespace conclave::agent
