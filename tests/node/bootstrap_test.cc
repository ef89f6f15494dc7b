// The bootstrap planner (agent/bootstrap.h) on its own: a randomized model of servers that see
// arbitrary, inconsistent views of each other, to show that promises never let overlapping
// servers start two different sets.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "agent/bootstrap.h"
#include "common/prng.h"

using namespace conclave;
using namespace conclave::agent;

namespace {

struct ModelServer {
  std::string name;
  uint64_t server_id = 0;
  int expect = 0;
  BootstrapPlanner planner{0};
  std::optional<store::BootstrapPromise> promise;  // persisted and announced
  std::optional<store::BootstrapPromise> started;
  uint64_t cluster_id = 0;
};

ServerView view_of(const ModelServer& server) {
  return ServerView{server.name, server.server_id, server.cluster_id, server.expect,
                    server.promise ? server_set_digest(server.promise->servers) : 0};
}

}  // namespace

TEST_CASE("bootstrap model: overlapping servers never start two different sets") {
  int runs_with_a_start = 0;
  int runs_with_a_refusal = 0;
  for (uint64_t seed = 1; seed <= 3000; ++seed) {
    Prng prng(seed);
    const int count = 3 + static_cast<int>(prng.below(4));  // 3..6 servers
    const int expect = 2 + static_cast<int>(prng.below(3));  // expect 2..4 (often < count)
    std::vector<ModelServer> servers;
    for (int i = 0; i < count; ++i) {
      ModelServer server;
      server.name = "s" + std::to_string(i);
      server.server_id = 100 + prng.below(1000) * 8 + i;
      server.expect = expect;
      servers.push_back(std::move(server));
    }
    bool refused = false;
    for (int step = 0; step < 300; ++step) {
      ModelServer& self = servers[prng.below(servers.size())];
      if (self.started) continue;
      // An arbitrary view: itself plus a random subset of the others, with their latest
      // announcements (gossip delivers some news and not other).
      BootstrapInput input;
      input.self_server_id = self.server_id;
      input.expect = self.expect;
      input.own_promise = self.promise;
      input.now_ms = step;
      for (const ModelServer& other : servers) {
        if (&other == &self || prng.chance(0.6)) input.alive_servers.push_back(view_of(other));
      }
      BootstrapDecision decision = self.planner.decide(input);
      refused |= decision.refusal;
      if (decision.action == BootstrapAction::promise) {
        REQUIRE_FALSE(self.promise);  // one promise per server, ever
        self.promise = decision.promise;
      } else if (decision.action == BootstrapAction::start) {
        REQUIRE(self.promise);
        REQUIRE(decision.promise == *self.promise);
        self.started = decision.promise;
        self.cluster_id = decision.cluster_id;
      }
    }
    // Every started set: all its members promised it; any two started sets are equal or share
    // no server.
    std::set<uint64_t> started_digests;
    std::map<uint64_t, uint64_t> cluster_of_server;
    for (const ModelServer& server : servers) {
      if (!server.started) continue;
      started_digests.insert(server.cluster_id);
      for (const store::ServerRecord& member : server.started->servers) {
        auto [it, inserted] = cluster_of_server.emplace(member.server_id, server.cluster_id);
        INFO("seed " << seed << ": server " << member.name << " is in two started sets");
        REQUIRE(it->second == server.cluster_id);
      }
    }
    if (!started_digests.empty()) ++runs_with_a_start;
    if (refused) ++runs_with_a_refusal;
  }
  // The model must exercise both outcomes, or it tests nothing.
  CHECK(runs_with_a_start > 100);
  CHECK(runs_with_a_refusal > 100);
}

TEST_CASE("bootstrap: the set digest ignores order and is never 0") {
  const std::vector<store::ServerRecord> ab = {{1, "a"}, {2, "b"}};
  const std::vector<store::ServerRecord> ba = {{2, "b"}, {1, "a"}};
  CHECK(server_set_digest(ab) == server_set_digest(ba));
  CHECK(server_set_digest(ab) != server_set_digest({{1, "a"}, {3, "c"}}));
  CHECK(server_set_digest({}) != 0);
}

TEST_CASE("bootstrap: a server told to join waits until it reached someone") {
  BootstrapPlanner planner(0);
  BootstrapInput input;
  input.self_server_id = 1;
  input.expect = 1;
  input.waiting_to_join = true;
  input.alive_servers = {ServerView{"a", 1, 0, 1, 0}};
  CHECK(planner.decide(input).action == BootstrapAction::wait);
  input.waiting_to_join = false;
  CHECK(planner.decide(input).action == BootstrapAction::promise);
}

TEST_CASE("bootstrap: a promised server starts once a member runs its set, whoever else is gone") {
  // a, b, c promised {a, b, c}; a started; then b lost its disk and came back as a stranger
  // (server id 9, no promise). c never saw b's promise: it must still start, because a running
  // the set proves every member promised it.
  std::vector<store::ServerRecord> set = {{1, "a"}, {2, "b"}, {3, "c"}};
  store::BootstrapPromise promise;
  promise.expect = 3;
  promise.servers = set;
  const uint64_t digest = server_set_digest(set);
  BootstrapPlanner planner(0);
  BootstrapInput input;
  input.self_server_id = 3;
  input.expect = 3;
  input.own_promise = promise;
  input.alive_servers = {ServerView{"b", 9, 0, 3, 0}, ServerView{"c", 3, 0, 3, digest}};
  CHECK(planner.decide(input).action == BootstrapAction::wait);  // no proof that a, b promised
  input.alive_servers.push_back(ServerView{"a", 1, digest, 3, digest});
  const BootstrapDecision decision = planner.decide(input);
  CHECK(decision.action == BootstrapAction::start);
  CHECK(decision.cluster_id == digest);
}

TEST_CASE("bootstrap: a promised server that sees another cluster says only an operator frees it") {
  // b promised {a, b, c}; a and c started a different set without it. b never takes its
  // promise back, so it cannot join their cluster, and its report must not promise that it
  // will be added (the simulator found such a server waiting forever).
  std::vector<store::ServerRecord> set = {{1, "a"}, {2, "b"}, {3, "c"}};
  store::BootstrapPromise promise;
  promise.expect = 3;
  promise.servers = set;
  BootstrapPlanner planner(0);
  BootstrapInput input;
  input.self_server_id = 2;
  input.expect = 3;
  input.own_promise = promise;
  input.alive_servers = {ServerView{"a", 1, 77, 3, 77}, ServerView{"b", 2, 0, 3,
                                                                   server_set_digest(set)}};
  const BootstrapDecision decision = planner.decide(input);
  CHECK(decision.action == BootstrapAction::wait);
  CHECK(decision.refusal);
  CHECK_THAT(decision.report, Catch::Contains("a cluster already exists (servers a)"));
  CHECK_THAT(decision.report, Catch::Contains("empty its data folder"));
  CHECK_THAT(decision.report, !Catch::Contains("waits to be added"));
}
