// Scenario tests: whole clusters of gossip nodes over the simulated network.
#include <catch2/catch.hpp>

#include <cstdio>
#include <map>

#include "gossip/suspicion.h"
#include "sim/gossip_cluster.h"

using namespace conclave::gossip;
using namespace conclave::sim;

namespace {

const std::vector<std::string> kFive = {"a", "b", "c", "d", "e"};

Options lan_options() {
  Options options;  // the LAN defaults: 250/100 ms probes, 3 × log N suspicion, fanout 3
  options.push_pull_interval_ms = 15000;
  return options;
}

// Starts five nodes that all join through "a".
void start_five(GossipCluster& net, uint64_t seed) {
  net.start("a", seed + 1, {});
  for (size_t i = 1; i < kFive.size(); ++i) {
    net.start(kFive[i], seed + 1 + i, {GossipCluster::address_of("a")});
  }
}

size_t count_events(const GossipCluster& net, EventType type, const std::string& member = "") {
  size_t count = 0;
  for (const auto& e : net.events()) {
    if (e.type == type && (member.empty() || e.member == member)) ++count;
  }
  return count;
}

// Every running node other than `member` has it in `state`.
bool all_others_see(GossipCluster& net, const std::string& member, MemberState state) {
  for (const auto& name : net.names()) {
    if (name == member || !net.running(name)) continue;
    auto view = net.view(name, member);
    if (!view || view->state != state) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("five nodes join through one seed and see each other within 2 s",
          "[gossip][scenario]") {
  GossipCluster net(100, lan_options());
  start_five(net, 100);
  const bool converged = net.run_until([&] { return net.all_see_alive(kFive); }, 2000);
  std::printf("[gossip] join: 5 of 5 alive everywhere after %lld ms\n",
              static_cast<long long>(net.now_ms()));
  CHECK(converged);
  for (const auto& name : kFive) CHECK(net.node(name).alive_count() == 5);
}

TEST_CASE("an unreachable node is declared dead by all others within ~3 s",
          "[gossip][scenario]") {
  for (uint64_t seed : {200u, 201u, 202u, 203u, 204u}) {
    GossipCluster net(seed, lan_options());
    start_five(net, seed);
    REQUIRE(net.run_until([&] { return net.all_see_alive(kFive); }, 2000));
    net.run_for(1000);
    const int64_t cut_at = net.now_ms();
    net.isolate("c");
    const bool detected =
        net.run_until([&] { return all_others_see(net, "c", MemberState::dead); }, 3000);
    const int64_t detection_ms = net.now_ms() - cut_at;
    std::printf("[gossip] seed %llu: all 4 others declared c dead after %lld ms "
                "(suspicion timeout %lld ms)\n",
                static_cast<unsigned long long>(seed), static_cast<long long>(detection_ms),
                static_cast<long long>(suspicion_timeout_ms(3.0, 5, 250)));
    CHECK(detected);
    // Nobody else was declared anything.
    for (const auto& e : net.events()) {
      // (c itself, cut off, suspects everyone: that is its own business.)
      if (e.observer != "c" && (e.type == EventType::failed || e.type == EventType::suspected))
        CHECK(e.member == "c");
    }
  }
}

TEST_CASE("10% packet loss for 120 s gives no false failures", "[gossip][scenario]") {
  for (uint64_t seed : {300u, 301u}) {
    GossipCluster net(seed, lan_options());
    start_five(net, seed);
    REQUIRE(net.run_until([&] { return net.all_see_alive(kFive); }, 2000));
    net.set_loss(0.10);
    net.run_for(120000);
    const size_t failed = count_events(net, EventType::failed);
    const size_t suspected = count_events(net, EventType::suspected);
    uint64_t refutations = 0;
    for (const auto& name : kFive) refutations += net.node(name).counters().refutations;
    std::printf("[gossip] seed %llu: 120 s at 10%% loss: %zu false failures, %zu suspicions, "
                "%llu refutations\n",
                static_cast<unsigned long long>(seed), failed, suspected,
                static_cast<unsigned long long>(refutations));
    CHECK(failed == 0);
    net.set_loss(0.0);
    net.run_for(1000);
    CHECK(net.all_see_alive(kFive));
  }
}

TEST_CASE("a briefly isolated node is suspected, refutes, and stays alive",
          "[gossip][scenario]") {
  const Options options = lan_options();
  const int64_t suspicion_ms = suspicion_timeout_ms(options.suspicion_multiplier, 5,
                                                    options.probe_interval_ms);
  const int64_t isolation_ms = 300;  // well under the shortest suspicion timeout
  REQUIRE(isolation_ms < suspicion_ms);
  GossipCluster net(400, options);
  start_five(net, 400);
  REQUIRE(net.run_until([&] { return net.all_see_alive(kFive); }, 2000));
  net.run_for(1000);
  // Cut d off for 300 ms at a time until some member's probe of it fails (a member probes
  // d only once per round-robin pass, so one cut may go unnoticed).
  for (int attempt = 0; attempt < 10 && count_events(net, EventType::suspected, "d") == 0;
       ++attempt) {
    net.isolate("d");
    net.run_for(isolation_ms);
    net.reconnect("d");
    net.run_for(1000);
  }
  REQUIRE(count_events(net, EventType::suspected, "d") > 0);
  net.run_for(3000);
  CHECK(count_events(net, EventType::failed, "d") == 0);
  CHECK(net.node("d").counters().refutations >= 1);
  CHECK(net.all_see_alive(kFive));
  for (const auto& name : kFive) {
    if (name != "d") CHECK(net.view(name, "d")->incarnation >= 1);
  }
}

TEST_CASE("a healed partition finds itself again through push-pull", "[gossip][scenario]") {
  Options options = lan_options();
  options.push_pull_interval_ms = 2000;
  GossipCluster net(500, options);
  start_five(net, 500);
  REQUIRE(net.run_until([&] { return net.all_see_alive(kFive); }, 2000));
  net.partition({{"a", "b"}, {"c", "d", "e"}});
  REQUIRE(net.run_until(
      [&] {
        for (const char* x : {"a", "b"}) {
          for (const char* y : {"c", "d", "e"}) {
            if (net.view(x, y)->state != MemberState::dead) return false;
            if (net.view(y, x)->state != MemberState::dead) return false;
          }
        }
        return true;
      },
      10000));
  // Stay cut off past the window in which members still gossip to the recently dead, so
  // only push-pull's reconnect (Sync with a dead member) can bring the sides together.
  net.run_for(options.gossip_to_the_dead_ms);
  const int64_t healed_at = net.now_ms();
  net.heal();
  const bool converged = net.run_until([&] { return net.all_see_alive(kFive); },
                                       2 * options.push_pull_interval_ms);
  std::printf("[gossip] partition healed: all 5 see all 5 alive after %lld ms "
              "(push-pull interval %lld ms)\n",
              static_cast<long long>(net.now_ms() - healed_at),
              static_cast<long long>(options.push_pull_interval_ms));
  CHECK(converged);
}

TEST_CASE("after an 8 s partition, gossip to the dead reunites both sides within 2 s",
          "[gossip][scenario]") {
  // With the LAN defaults (push-pull every 15 s) only gossip to the recently dead can be this
  // fast: each side keeps telling the other it is dead, and every member refutes at once.
  Options options = lan_options();
  GossipCluster net(501, options);
  start_five(net, 501);
  REQUIRE(net.run_until([&] { return net.all_see_alive(kFive); }, 2000));
  net.partition({{"a", "b"}, {"c", "d", "e"}});
  net.run_for(8000);
  REQUIRE(net.view("a", "c")->state == MemberState::dead);
  const int64_t healed_at = net.now_ms();
  net.heal();
  const bool converged = net.run_until([&] { return net.all_see_alive(kFive); }, 2000);
  std::printf("[gossip] 8 s partition healed: all 5 see all 5 alive after %lld ms\n",
              static_cast<long long>(net.now_ms() - healed_at));
  CHECK(converged);
}

TEST_CASE("a restarted node rejoins with a higher incarnation", "[gossip][scenario]") {
  GossipCluster net(600, lan_options());
  start_five(net, 600);
  REQUIRE(net.run_until([&] { return net.all_see_alive(kFive); }, 2000));
  net.crash("e");
  REQUIRE(net.run_until([&] { return all_others_see(net, "e", MemberState::dead); }, 4000));
  net.run_for(500);
  // A new process: same name and address, incarnation 0, a different seed.
  net.start("e", 6060, {GossipCluster::address_of("b")});
  const bool converged = net.run_until([&] { return net.all_see_alive(kFive); }, 2000);
  CHECK(converged);
  for (const auto& name : kFive) {
    auto view = net.view(name, "e");
    REQUIRE(view);
    CHECK(view->incarnation >= 1);
  }
  CHECK(net.node("e").alive_count() == 5);
}

TEST_CASE("a graceful leave is seen as left, not failed", "[gossip][scenario]") {
  GossipCluster net(700, lan_options());
  start_five(net, 700);
  REQUIRE(net.run_until([&] { return net.all_see_alive(kFive); }, 2000));
  net.node("b").leave(net.now_ms());
  const bool seen = net.run_until([&] { return all_others_see(net, "b", MemberState::left); },
                                  2000);
  CHECK(seen);
  net.crash("b");
  net.run_for(5000);
  CHECK(count_events(net, EventType::failed) == 0);
  CHECK(count_events(net, EventType::left, "b") == 4);
}

TEST_CASE("the same seed gives the same event transcript", "[gossip][scenario]") {
  auto run = [](uint64_t seed) {
    GossipCluster net(seed, lan_options());
    start_five(net, seed);
    net.set_loss(0.05);
    net.run_for(3000);
    net.isolate("b");
    net.run_for(3000);
    net.reconnect("b");
    net.run_for(3000);
    return net.transcript();
  };
  const std::string first = run(800);
  const std::string second = run(800);
  CHECK(!first.empty());
  CHECK(first == second);
  CHECK(first != run(801));
}
