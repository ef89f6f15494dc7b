// Lifeguard (local health, nacks, confirmed suspicions), the stall guard and name conflicts,
// each driven by hand on one node so every timing is exact.
#include <catch2/catch.hpp>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC bug 107919, see unit_test.cc
#endif

#include <functional>
#include <string>

#include "gossip/gossip.h"
#include "gossip/suspicion.h"
#include "tests/gossip/test_support.h"

using namespace conclave::gossip;
using namespace conclave::gossip::test;

namespace {

// Node "a" that knows b, c, d and e (all alive, incarnation 0).
Gossip& introduce_four(Gossip& node) {
  Packet intro{"b", {}};
  for (const char* name : {"b", "c", "d", "e"}) {
    intro.messages.push_back(make_update(name, 0, MemberState::alive));
  }
  node.step("b:7946", intro, 0);
  node.take_events();
  node.take_outgoing();
  return node;
}

// What the rest of the cluster does with each packet the node sends: `answer` may step the
// node with replies. Runs ticks every 10 ms from `from_ms` to `to_ms`; returns the time of the
// first event of `type` about `member`, or -1.
int64_t run(Gossip& node, int64_t from_ms, int64_t to_ms,
            const std::function<void(const Outgoing&, int64_t)>& answer, EventType type,
            const std::string& member) {
  int64_t seen_at = -1;
  for (int64_t now = from_ms; now <= to_ms; now += 10) {
    node.tick(now);
    for (const auto& out : node.take_outgoing()) answer(out, now);
    for (const auto& event : node.take_events()) {
      if (event.type == type && event.member.name == member && seen_at < 0) seen_at = now;
    }
  }
  return seen_at;
}

// Acks every direct ping except those to `silent`; PingReqs are answered with a Nack when
// `relays_nack`, else ignored.
std::function<void(const Outgoing&, int64_t)> cluster_with_silent(Gossip& node,
                                                                  const std::string& silent,
                                                                  bool relays_nack) {
  return [&node, silent, relays_nack](const Outgoing& out, int64_t now) {
    for (const auto& message : out.packet.messages) {
      if (const auto* ping = std::get_if<Ping>(&message)) {
        if (ping->target != silent) {
          node.step(out.to_address, Packet{ping->target, {Ack{ping->sequence}}}, now);
        }
      } else if (const auto* request = std::get_if<PingReq>(&message)) {
        if (relays_nack && request->nack) {
          node.step(out.to_address, Packet{"relay", {Nack{request->sequence}}}, now);
        }
      }
    }
  };
}

MemberUpdate suspicion_of(const std::string& name, const std::string& accuser) {
  MemberUpdate update = make_update(name, 0, MemberState::suspect);
  update.from = accuser;
  return update;
}

}  // namespace

TEST_CASE("a suspicion's timeout shrinks from the longest to the shortest with confirmations",
          "[gossip][lifeguard]") {
  Suspicion suspicion(3, "b", 1000, 750, 4500, 2);
  CHECK(suspicion.deadline_ms() == 1000 + 4500);
  CHECK_FALSE(suspicion.confirm("b"));  // the first accuser is not a confirmation
  CHECK_FALSE(suspicion.confirm(""));
  CHECK(suspicion.confirm("c"));
  // 4500 - 3750 × log(2) / log(3) = 2134.06
  CHECK(suspicion.deadline_ms() == 1000 + 2134);
  CHECK_FALSE(suspicion.confirm("c"));  // not independent
  CHECK(suspicion.confirm("d"));
  CHECK(suspicion.deadline_ms() == 1000 + 750);
  CHECK_FALSE(suspicion.confirm("e"));  // beyond the expected count: nothing to gain
  CHECK(suspicion.confirmations() == 2);
  suspicion.postpone(500);
  CHECK(suspicion.deadline_ms() == 1500 + 750);

  Suspicion alone(0, "b", 0, 750, 4500, 0);  // too few members to expect confirmations
  CHECK(alone.deadline_ms() == 750);
}

// Lifeguard's K = 2 (the default is 1), to see the timeout fall in two steps.
Options two_confirmations() {
  Options options = make_options("a");
  options.suspicion_confirmations = 2;
  return options;
}

TEST_CASE("a suspicion's timeout falls with each confirmation, our own failed probe included; "
          "a suspect that answers us is not declared dead by us",
          "[gossip][lifeguard]") {
  // The defaults at N = 5: the shortest timeout is 2 × 250 ms, the longest 6 × 500 ms.
  SECTION("heard from b, confirmed by our own failed probe: 3000 - 2500 × log 2 / log 3") {
    Gossip node(two_confirmations(), 5, 0);
    introduce_four(node);
    node.step("b:7946", Packet{"b", {suspicion_of("e", "b")}}, 0);
    const int64_t failed_at = run(node, 10, 6000, cluster_with_silent(node, "e", true),
                                  EventType::failed, "e");
    CHECK(node.counters().suspicion_confirmations == 1);
    CHECK(failed_at == 1430);  // the first tick at or after 1422.7 ms
  }
  SECTION("a suspect that answers our probes (its refutations lost) is probed again at each "
          "deadline, never declared dead by us") {
    Gossip node(two_confirmations(), 5, 0);
    introduce_four(node);
    node.step("b:7946", Packet{"b", {suspicion_of("e", "b")}}, 0);
    size_t probes_of_e_after_deadline = 0;
    const auto everyone = cluster_with_silent(node, "", true);
    const int64_t failed_at =
        run(node, 10, 20000,
            [&](const Outgoing& out, int64_t now) {
              for (const auto& ping : messages_of<Ping>({out})) {
                if (ping.target == "e" && now >= 3000) ++probes_of_e_after_deadline;
              }
              everyone(out, now);
            },
            EventType::failed, "e");
    CHECK(failed_at == -1);
    CHECK(probes_of_e_after_deadline >= 5);
  }
  SECTION("confirmed by c and d: 500 ms, and each confirmation is passed on") {
    Gossip node(two_confirmations(), 5, 0);
    introduce_four(node);
    node.step("b:7946", Packet{"b", {suspicion_of("e", "b")}}, 0);
    const auto everyone = cluster_with_silent(node, "e", true);
    run(node, 10, 100, everyone, EventType::failed, "e");
    node.take_outgoing();
    node.step("c:7946", Packet{"c", {suspicion_of("e", "c")}}, 100);
    // The confirmation rides on the next packets, with its accuser.
    node.step("d:7946", Packet{"d", {Ping{1, "a"}}}, 100);
    std::vector<MemberUpdate> passed_on;
    for (const auto& update : messages_of<MemberUpdate>(node.take_outgoing())) {
      if (update.name == "e") passed_on.push_back(update);
    }
    REQUIRE(passed_on.size() == 1);
    CHECK(passed_on[0].from == "c");
    run(node, 110, 200, everyone, EventType::failed, "e");
    node.step("d:7946", Packet{"d", {suspicion_of("e", "d")}}, 200);
    CHECK(node.counters().suspicion_confirmations == 2);
    const int64_t failed_at = run(node, 210, 6000, everyone, EventType::failed, "e");
    // At 500 ms if our own probe of e has failed by then; else after one last-chance probe.
    CHECK(failed_at >= 500);
    CHECK(failed_at <= 500 + 2 * 250 + 10);
  }
  SECTION("Lifeguard off: the shortest at once") {
    Options options = make_options("a");
    options.lifeguard = false;
    Gossip node(options, 5, 0);
    introduce_four(node);
    node.step("b:7946", Packet{"b", {suspicion_of("e", "b")}}, 0);
    CHECK(run(node, 10, 6000, cluster_with_silent(node, "", true), EventType::failed, "e") ==
          500);
  }
}

TEST_CASE("a relay nacks a PingReq whose target stays silent, only when asked",
          "[gossip][lifeguard]") {
  Gossip node(make_options("a"), 7, 0);
  node.step("b:7946", Packet{"b", {PingReq{77, "c", "c:7946", true}}}, 0);
  node.step("b:7946", Packet{"b", {PingReq{78, "d", "d:7946", false}}}, 0);
  node.take_outgoing();
  for (int64_t now = 10; now < 100; now += 10) node.tick(now);
  CHECK(messages_of<Nack>(node.take_outgoing()).empty());  // the probe timeout is 100 ms
  node.tick(100);
  const auto out = node.take_outgoing();
  const auto nacks = messages_of<Nack>(out);
  REQUIRE(nacks.size() == 1);
  CHECK(nacks[0].sequence == 77);
  for (const auto& packet : out) {
    if (!packet.packet.messages.empty() &&
        std::holds_alternative<Nack>(packet.packet.messages[0])) {
      CHECK(packet.to_address == "b:7946");
    }
  }
  for (int64_t now = 110; now < 300; now += 10) node.tick(now);
  CHECK(messages_of<Nack>(node.take_outgoing()).empty());  // once
  CHECK(node.counters().nacks_sent == 1);
}

TEST_CASE("local health: failed probes without nacks stretch the probe interval; answers "
          "bring it back",
          "[gossip][lifeguard]") {
  // The times at which the node sent a direct probe.
  auto ping_times = [](Gossip& node, int64_t from_ms, int64_t to_ms,
                       const std::function<void(const Outgoing&, int64_t)>& answer) {
    std::vector<int64_t> times;
    for (int64_t now = from_ms; now <= to_ms; now += 10) {
      node.tick(now);
      for (const auto& out : node.take_outgoing()) {
        if (!out.packet.messages.empty() && std::holds_alternative<Ping>(out.packet.messages[0]) &&
            out.to_address != "relay") {
          times.push_back(now);
        }
        answer(out, now);
      }
      node.take_events();
    }
    return times;
  };
  SECTION("relays that nack show the target is the silent one: our health stays good") {
    Gossip node(make_options("a"), 9, 0);
    introduce_four(node);
    const auto times = ping_times(node, 10, 5000, cluster_with_silent(node, "e", true));
    CHECK(node.local_health() == 0);
    CHECK(node.counters().nacks_received >= 3);
    CHECK(times.size() >= 19);  // one probe every 250 ms
  }
  SECTION("nobody answers: we are the sick one") {
    Gossip node(make_options("a"), 9, 0);
    introduce_four(node);
    const auto nobody = [](const Outgoing&, int64_t) {};
    // A failed probe whose three relays sent no nack adds 3: the next probe comes 4 × 250 ms
    // later, and the one after that later still.
    const auto times = ping_times(node, 10, 10000, nobody);
    CHECK(node.local_health() == 8);
    REQUIRE(times.size() >= 4);
    CHECK(times[1] - times[0] == 250);
    CHECK(times[2] - times[1] == 1000);
    CHECK(times[3] - times[2] > 1000);
    // The others come back (they refute), and answer: every probe answered in time counts -1.
    Packet back{"b", {}};
    for (const char* name : {"b", "c", "d", "e"}) {
      back.messages.push_back(make_update(name, 10, MemberState::alive));
    }
    node.step("b:7946", back, 12000);
    ping_times(node, 12010, 40000, cluster_with_silent(node, "", true));
    CHECK(node.local_health() == 0);
  }
  SECTION("Lifeguard off: the score never moves") {
    Options options = make_options("a");
    options.lifeguard = false;
    Gossip node(options, 9, 0);
    introduce_four(node);
    const auto times = ping_times(node, 10, 5000, [](const Outgoing&, int64_t) {});
    CHECK(node.local_health() == 0);
    REQUIRE(times.size() >= 4);
    CHECK(times[3] - times[2] == 250);
  }
}

TEST_CASE("the stall guard: a probe or suspicion that expired while we were not running is "
          "not acted on before the queued answers are read",
          "[gossip][stall]") {
  auto probe_across_a_stall = [](int64_t stall_threshold_ms) {
    Options options = make_options("a");
    options.stall_threshold_ms = stall_threshold_ms;
    Gossip node(options, 11, 0);
    introduce_four(node);
    std::vector<Outgoing> pending;
    int64_t now = 10;
    for (; pending.empty(); now += 10) {
      node.tick(now);
      for (auto& out : node.take_outgoing()) {
        if (!messages_of<Ping>({out}).empty()) pending.push_back(out);
      }
    }
    // The ack is in our socket buffer, but the process is stopped for 2 s. On waking, the
    // timer runs first (as in libuv), then the buffered ack is read.
    now += 2000;
    node.tick(now);
    for (const auto& out : pending) {
      const Ping ping = messages_of<Ping>({out}).front();
      node.step(out.to_address, Packet{ping.target, {Ack{ping.sequence}}}, now);
    }
    node.take_outgoing();
    size_t suspicions = 0;
    for (const auto& event : node.take_events()) suspicions += event.type == EventType::suspected;
    run(node, now + 10, now + 10, cluster_with_silent(node, "", true), EventType::suspected, "");
    return suspicions + node.counters().suspicions_raised;
  };
  CHECK(probe_across_a_stall(100) == 0);
  CHECK(probe_across_a_stall(0) > 0);  // without the guard, the stall condemns a live member

  auto suspicion_across_a_stall = [](int64_t stall_threshold_ms) {
    Options options = make_options("a");
    options.lifeguard = false;  // 500 ms flat
    options.stall_threshold_ms = stall_threshold_ms;
    Gossip node(options, 13, 0);
    introduce_four(node);
    node.step("b:7946", Packet{"b", {suspicion_of("e", "b")}}, 0);
    const auto everyone = cluster_with_silent(node, "", true);
    int64_t failed_at = run(node, 10, 400, everyone, EventType::failed, "e");
    // Stalled from 400 to 1500 ms; e's refutation arrived meanwhile and waits in the buffer.
    node.tick(1500);
    node.step("e:7946", Packet{"e", {make_update("e", 1, MemberState::alive)}}, 1500);
    for (const auto& event : node.take_events()) {
      if (event.type == EventType::failed && failed_at < 0) failed_at = 1500;
    }
    const int64_t later = run(node, 1510, 3000, everyone, EventType::failed, "e");
    return failed_at >= 0 || later >= 0;
  };
  CHECK_FALSE(suspicion_across_a_stall(100));
  CHECK(suspicion_across_a_stall(0));
}

TEST_CASE("a live member's name claimed from another address: the claim is refused and both "
          "ends are told",
          "[gossip][conflict]") {
  Gossip node(make_options("a"), 15, 0);
  introduce_four(node);
  node.step("10.9.9.9:7946",
            Packet{"b", {make_update("b", 5, MemberState::alive, "10.9.9.9:7946")}}, 10);
  CHECK(node.members()[1].address == "b:7946");
  CHECK(node.members()[1].incarnation == 0);
  CHECK(node.take_events().empty());
  const auto out = node.take_outgoing();
  const auto notices = messages_of<NameConflict>(out);
  REQUIRE(notices.size() == 2);
  CHECK(notices[0] == NameConflict{"b", "b:7946", "10.9.9.9:7946"});
  std::set<std::string> told;
  for (const auto& packet : out) told.insert(packet.to_address);
  CHECK(told == std::set<std::string>{"b:7946", "10.9.9.9:7946"});
  auto conflicts = node.take_conflicts();
  REQUIRE(conflicts.size() == 1);
  CHECK_FALSE(conflicts[0].refused);

  // The claimant learns it is refused; the holder only that someone tried.
  Options claimant_options = make_options("b");
  claimant_options.address = "10.9.9.9:7946";
  Gossip claimant(claimant_options, 17, 0);
  claimant.step("a:7946", Packet{"a", {notices[0]}}, 20);
  conflicts = claimant.take_conflicts();
  REQUIRE(conflicts.size() == 1);
  CHECK(conflicts[0].refused);
  CHECK(conflicts[0].holder_address == "b:7946");
  Gossip holder(make_options("b"), 19, 0);
  holder.step("a:7946", Packet{"a", {notices[0]}}, 20);
  conflicts = holder.take_conflicts();
  REQUIRE(conflicts.size() == 1);
  CHECK_FALSE(conflicts[0].refused);
  // A notice about another name, or naming neither of our addresses, is ignored.
  holder.step("a:7946", Packet{"a", {NameConflict{"c", "b:7946", "x:1"}}}, 30);
  holder.step("a:7946", Packet{"a", {NameConflict{"b", "y:1", "x:1"}}}, 30);
  CHECK(holder.take_conflicts().empty());

  // The holder never out-bids the claimant's alive news with a refutation of its own.
  holder.step("a:7946",
              Packet{"a", {make_update("b", 9, MemberState::alive, "10.9.9.9:7946")}}, 40);
  CHECK(holder.members().front().incarnation == 0);
  CHECK(holder.counters().refutations == 0);
}

TEST_CASE("a dead member's name may be taken from a new address", "[gossip][conflict]") {
  Gossip node(make_options("a"), 21, 0);
  introduce_four(node);
  node.step("b:7946", Packet{"b", {make_update("c", 0, MemberState::dead)}}, 10);
  // The new agent under c's name hears that c is dead and claims the name above it.
  Options options = make_options("c");
  options.address = "10.1.1.1:7946";
  Gossip newcomer(options, 23, 0);
  newcomer.step("a:7946", Packet{"a", {make_update("c", 0, MemberState::dead)}}, 10);
  CHECK(newcomer.members().front().incarnation == 1);
  node.step("10.1.1.1:7946", Packet{"c", {make_update("c", 1, MemberState::alive,
                                                      "10.1.1.1:7946")}},
            20);
  CHECK(node.members()[2].address == "10.1.1.1:7946");
  CHECK(node.members()[2].state == MemberState::alive);
  CHECK(node.take_conflicts().empty());
}

TEST_CASE("one cluster per pool: another cluster's packets and members are dropped, answered "
          "with WrongCluster, and its members forgotten",
          "[gossip][cluster]") {
  Options options = make_options("a");
  options.cluster_id = 0xA;
  Gossip node(options, 25, 0);
  introduce_four(node);
  CHECK(node.take_outgoing().empty());

  // A packet from cluster B: nothing in it is merged; the sender is told which cluster this is.
  Packet foreign{"x", {make_update("x", 0, MemberState::alive, "x:7946"),
                       make_update("b", 7, MemberState::dead)}};
  foreign.cluster_id = 0xB;
  node.step("x:7946", foreign, 10);
  CHECK(node.members().size() == 5);  // no x, and b not dead
  CHECK(node.members()[1].state == MemberState::alive);
  auto out = node.take_outgoing();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to_address == "x:7946");
  CHECK(out[0].packet.cluster_id == 0xA);
  CHECK(std::get<WrongCluster>(out[0].packet.messages.at(0)).cluster_id == 0xA);
  auto foreign_seen = node.take_foreign_clusters();
  REQUIRE(foreign_seen.size() == 1);
  CHECK(foreign_seen[0].cluster_id == 0xB);
  // Its WrongCluster answer to us is not answered again (no ping-pong).
  Packet notice{"x", {WrongCluster{0xB}}};
  notice.cluster_id = 0xB;
  node.step("x:7946", notice, 20);
  CHECK(node.take_outgoing().empty());

  // A member record that says cluster B, relayed by one of ours, is not merged either.
  MemberUpdate stranger = make_update("y", 0, MemberState::alive);
  stranger.cluster_id = 0xB;
  node.step("b:7946", Packet{"b", {stranger}}, 30);
  CHECK(node.members().size() == 5);
  CHECK(node.counters().wrong_cluster_dropped >= 3);
}

TEST_CASE("an agent that learns its cluster forgets the other cluster's members it met first",
          "[gossip][cluster]") {
  Gossip joiner(make_options("j"), 27, 0);  // no cluster yet: it merges what it hears
  MemberUpdate a1 = make_update("a1", 0, MemberState::alive);
  a1.cluster_id = 0xA;
  MemberUpdate b1 = make_update("b1", 0, MemberState::alive);
  b1.cluster_id = 0xB;
  joiner.step("a1:7946", Packet{"a1", {a1}}, 0);
  joiner.step("b1:7946", Packet{"b1", {b1}}, 0);
  REQUIRE(joiner.members().size() == 3);
  joiner.take_events();
  joiner.set_cluster_id(0xA, 10);
  const auto members = joiner.members();
  REQUIRE(members.size() == 2);
  CHECK(members[0].name == "a1");
  CHECK(members[1].cluster_id == 0xA);  // j itself, in its new record
  const auto events = joiner.take_events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::reaped);
  CHECK(events[0].member.name == "b1");
  // b1's old record, still gossiped around cluster B, does not bring it back.
  joiner.step("a1:7946", Packet{"a1", {b1}}, 20);
  CHECK(joiner.members().size() == 2);
  // And j's packets now say cluster A, so B's members drop them.
  joiner.step("a1:7946", Packet{"a1", {Ping{1, "j"}}}, 30);
  const auto out = joiner.take_outgoing();
  REQUIRE_FALSE(out.empty());
  CHECK(out.back().packet.cluster_id == 0xA);
}

TEST_CASE("a member whose UDP is filtered but answers the TCP fallback probe is not suspected",
          "[gossip][tcp]") {
  auto suspicions_of_e = [](bool tcp_answers, bool tcp_fallback) {
    Options options = make_options("a");
    options.tcp_fallback = tcp_fallback;
    Gossip node(options, 31, 0);
    introduce_four(node);
    size_t tcp_probes_of_e = 0;
    const auto udp_to_e_lost = cluster_with_silent(node, "e", true);
    for (int64_t now = 10; now <= 10000; now += 10) {
      node.tick(now);
      for (const auto& out : node.take_outgoing()) udp_to_e_lost(out, now);
      for (const TcpProbe& probe : node.take_tcp_probes()) {
        if (probe.target == "e") ++tcp_probes_of_e;
        if (tcp_answers) node.tcp_probe_answered(probe.sequence);
      }
    }
    size_t suspicions = 0;
    for (const auto& event : node.take_events()) {
      suspicions += event.type == EventType::suspected && event.member.name == "e";
    }
    CHECK((tcp_fallback ? tcp_probes_of_e > 0 : tcp_probes_of_e == 0));
    return suspicions;
  };
  CHECK(suspicions_of_e(true, true) == 0);
  CHECK(suspicions_of_e(false, true) > 0);   // TCP does not reach it either: suspected
  CHECK(suspicions_of_e(true, false) > 0);   // no fallback: UDP alone condemns it
}
