// Unit tables for the gossip core's pure pieces, and single-node behaviour driven by hand.
#include <catch2/catch.hpp>

// GCC 12 at -O2 reports a false -Wmaybe-uninitialized when a std::variant Message is built
// from a temporary inside these long test functions (GCC bug 107919); the library is clean.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "common/hash.h"
#include "gossip/broadcast_queue.h"
#include "gossip/gossip.h"
#include "gossip/member_table.h"
#include "gossip/probe_schedule.h"
#include "gossip/suspicion.h"
#include "tests/gossip/test_support.h"

using namespace conclave;
using namespace conclave::gossip;
using namespace conclave::gossip::test;


TEST_CASE("suspicion timeout scales with log10 of the alive members", "[gossip][suspicion]") {
  struct Row {
    size_t members;
    int64_t expected_ms;
  };
  // 3 × max(1, log10 N) × 250 ms
  const Row rows[] = {{0, 750}, {1, 750}, {5, 750}, {10, 750}, {100, 1500}, {1000, 2250}};
  for (const auto& row : rows) {
    INFO("N = " << row.members);
    CHECK(suspicion_timeout_ms(3.0, row.members, 250) == row.expected_ms);
  }
  CHECK(suspicion_timeout_ms(4.0, 100, 1000) == 8000);
  CHECK(suspicion_timeout_ms(3.0, 50, 1000) == 5097);  // 3 × 1.69897 × 1000, rounded
}

TEST_CASE("retransmit limit is multiplier × ceil(log10(N + 1))", "[gossip][broadcast]") {
  struct Row {
    size_t members;
    int expected;
  };
  const Row rows[] = {{0, 1},  {1, 4},   {5, 4},   {9, 4},    {10, 8},
                      {99, 8}, {100, 12}, {999, 12}, {1000, 16}};
  for (const auto& row : rows) {
    INFO("N = " << row.members);
    CHECK(retransmit_limit(4, row.members) == row.expected);
  }
  CHECK(retransmit_limit(0, 5) == 1);  // never zero: an update is sent at least once
}

TEST_CASE("merge precedence by incarnation and state (SWIM 4.2)", "[gossip][member_table]") {
  using S = MemberState;
  struct Row {
    uint64_t current_incarnation;
    S current;
    uint64_t update_incarnation;
    S update;
    bool overrides;
  };
  const Row rows[] = {
      // higher incarnation always wins
      {1, S::alive, 2, S::alive, true},
      {1, S::suspect, 2, S::alive, true},
      {1, S::dead, 2, S::alive, true},
      {1, S::left, 2, S::alive, true},
      {1, S::alive, 2, S::suspect, true},
      {1, S::dead, 2, S::suspect, true},
      // equal incarnation: alive < suspect < dead < left
      {1, S::alive, 1, S::alive, false},
      {1, S::alive, 1, S::suspect, true},
      {1, S::alive, 1, S::dead, true},
      {1, S::alive, 1, S::left, true},
      {1, S::suspect, 1, S::alive, false},
      {1, S::suspect, 1, S::suspect, false},
      {1, S::suspect, 1, S::dead, true},
      {1, S::suspect, 1, S::left, true},
      {1, S::dead, 1, S::alive, false},
      {1, S::dead, 1, S::suspect, false},
      {1, S::dead, 1, S::dead, false},
      {1, S::dead, 1, S::left, true},
      {1, S::left, 1, S::dead, false},
      // lower incarnation never wins
      {2, S::alive, 1, S::dead, false},
      {2, S::suspect, 1, S::alive, false},
      {2, S::alive, 1, S::left, false},
  };
  for (const auto& row : rows) {
    INFO(row.current_incarnation << " " << member_state_name(row.current) << " <- "
                                 << row.update_incarnation << " "
                                 << member_state_name(row.update));
    CHECK(update_overrides(row.current_incarnation, row.current, row.update_incarnation,
                           row.update) == row.overrides);
  }
}

TEST_CASE("member table events and address changes", "[gossip][member_table]") {
  MemberTable table(3);
  Member self;
  self.name = "a";
  self.address = "a:1";
  table.insert_self(self);

  // Unknown and not alive: ignored.
  CHECK(table.apply(make_update("b", 0, MemberState::suspect), 0).outcome ==
        MergeOutcome::ignored);
  auto joined = table.apply(make_update("b", 0, MemberState::alive, "b:1"), 10);
  REQUIRE(joined.outcome == MergeOutcome::accepted);
  CHECK(joined.added);
  REQUIRE(joined.event);
  CHECK(joined.event->type == EventType::joined);

  // Equal-incarnation alive with another address: stale, address kept.
  CHECK(table.apply(make_update("b", 0, MemberState::alive, "b:2"), 20).outcome ==
        MergeOutcome::ignored);
  CHECK(table.find("b")->address == "b:1");

  auto suspected = table.apply(make_update("b", 0, MemberState::suspect, "ignored:9"), 30);
  REQUIRE(suspected.event);
  CHECK(suspected.event->type == EventType::suspected);
  CHECK(table.find("b")->address == "b:1");  // only alive updates move a member
  CHECK(table.find("b")->state_changed_ms == 30);

  auto refuted = table.apply(make_update("b", 1, MemberState::alive, "b:2"), 40);
  REQUIRE(refuted.event);
  CHECK(refuted.event->type == EventType::updated);
  CHECK(table.find("b")->address == "b:2");

  auto failed = table.apply(make_update("b", 1, MemberState::dead), 50);
  REQUIRE(failed.event);
  CHECK(failed.event->type == EventType::failed);
  CHECK(table.alive_count() == 1);

  auto back = table.apply(make_update("b", 2, MemberState::alive), 60);
  REQUIRE(back.event);
  CHECK(back.event->type == EventType::joined);

  // Plain incarnation bump with nothing new: accepted (it must spread) but no event.
  auto bump = table.apply(make_update("b", 3, MemberState::alive), 70);
  CHECK(bump.outcome == MergeOutcome::accepted);
  CHECK_FALSE(bump.event);

  auto left = table.apply(make_update("b", 3, MemberState::left), 80);
  REQUIRE(left.event);
  CHECK(left.event->type == EventType::left);

  CHECK(table.apply(make_update("c", 0, MemberState::alive), 90).outcome ==
        MergeOutcome::accepted);
  CHECK(table.apply(make_update("d", 0, MemberState::alive), 90).outcome ==
        MergeOutcome::table_full);
  CHECK(table.size() == 3);
}

TEST_CASE("broadcast queue replaces, prefers least transmitted, drops after the limit",
          "[gossip][broadcast]") {
  BroadcastQueue queue(10);
  queue.enqueue(make_update("a", 0, MemberState::alive));
  queue.enqueue(make_update("b", 0, MemberState::alive));
  queue.enqueue(make_update("a", 0, MemberState::suspect));  // replaces the alive one
  CHECK(queue.size() == 2);

  // Room for one: "a" is newest among the untransmitted.
  const size_t one = encoded_size_bound(Message{make_update("a", 0, MemberState::suspect)});
  auto first = queue.take(one, 64, 3);
  REQUIRE(first.size() == 1);
  CHECK(first[0].name == "a");
  CHECK(first[0].state == MemberState::suspect);
  CHECK(queue.transmits("a") == 1);

  // Next: "b" has fewer transmissions than "a".
  auto second = queue.take(one, 64, 3);
  REQUIRE(second.size() == 1);
  CHECK(second[0].name == "b");

  // A replacement starts over at zero transmissions.
  queue.enqueue(make_update("b", 1, MemberState::alive));
  CHECK(queue.transmits("b") == 0);

  // Limit 3: "a" goes after two more takes, "b" after three.
  for (int i = 0; i < 2; ++i) CHECK(queue.take(100000, 64, 3).size() == 2);
  CHECK(queue.transmits("a") == -1);
  CHECK(queue.transmits("b") == 2);
  CHECK(queue.take(100000, 64, 3).size() == 1);
  CHECK(queue.empty());

  // The count limit is honoured, and nothing fits a zero budget.
  for (int i = 0; i < 5; ++i) queue.enqueue(make_update("m" + std::to_string(i), 0,
                                                        MemberState::alive));
  CHECK(queue.take(100000, 2, 3).size() == 2);
  CHECK(queue.take(0, 64, 3).empty());
}

TEST_CASE("broadcast queue over capacity drops the oldest", "[gossip][broadcast]") {
  BroadcastQueue queue(3);
  CHECK_FALSE(queue.enqueue(make_update("a", 0, MemberState::alive)));
  CHECK_FALSE(queue.enqueue(make_update("b", 0, MemberState::alive)));
  CHECK_FALSE(queue.enqueue(make_update("c", 0, MemberState::alive)));
  CHECK_FALSE(queue.enqueue(make_update("a", 1, MemberState::alive)));  // replacement: no drop
  CHECK(queue.enqueue(make_update("d", 0, MemberState::alive)));        // drops "b", the oldest
  CHECK(queue.size() == 3);
  CHECK(queue.transmits("b") == -1);
  CHECK(queue.transmits("a") == 0);

  // Through Gossip: a burst of new members over max_broadcast_queue is counted.
  Options options = make_options("self");
  options.max_broadcast_queue = 4;
  Gossip node(options, 1, 0);
  Packet packet;
  packet.from = "x";
  for (int i = 0; i < 10; ++i) {
    packet.messages.push_back(make_update("n" + std::to_string(i), 0, MemberState::alive));
  }
  node.step("x:1", packet, 0);
  CHECK(node.alive_count() == 11);
  CHECK(node.counters().updates_dropped == 6);
}

TEST_CASE("probe schedule visits everyone once per pass", "[gossip][probe]") {
  Prng prng(7);
  ProbeSchedule schedule;
  for (const char* name : {"a", "b", "c", "d", "e"}) schedule.add(name, prng);
  auto always = [](const std::string&) { return true; };
  for (int pass = 0; pass < 3; ++pass) {
    std::set<std::string> seen;
    for (int i = 0; i < 5; ++i) seen.insert(*schedule.next(prng, always));
    CHECK(seen.size() == 5);
  }
  // Ineligible names are skipped; none eligible gives nullopt.
  for (int i = 0; i < 10; ++i) {
    CHECK(*schedule.next(prng, [](const std::string& n) { return n == "c"; }) == "c");
  }
  CHECK_FALSE(schedule.next(prng, [](const std::string&) { return false; }));
  schedule.remove("c");
  CHECK(schedule.size() == 4);
  CHECK_FALSE(schedule.next(prng, [](const std::string& n) { return n == "c"; }));
}

TEST_CASE("with a ring, every other probe goes to the ring successor", "[gossip][probe]") {
  Prng prng(11);
  const std::vector<std::string> names = {"a", "b", "c", "d", "e", "f", "g", "h"};
  // The ring order is fnv1a64's; find "a"'s successor and the one after it by hand.
  std::vector<std::pair<uint64_t, std::string>> ring;
  for (const auto& name : names) ring.emplace_back(fnv1a64(name), name);
  std::sort(ring.begin(), ring.end());
  const size_t own = static_cast<size_t>(
      std::find_if(ring.begin(), ring.end(), [](const auto& p) { return p.second == "a"; }) -
      ring.begin());
  const std::string successor = ring[(own + 1) % ring.size()].second;
  const std::string after_successor = ring[(own + 2) % ring.size()].second;

  ProbeSchedule schedule("a");
  for (const auto& name : names) {
    if (name != "a") schedule.add(name, prng);
  }
  auto always = [](const std::string&) { return true; };
  std::map<std::string, int> probes;
  for (int i = 0; i < 70; ++i) {
    const std::string target = *schedule.next(prng, always);
    ++probes[target];
    if (i % 2 == 0) CHECK(target == successor);
  }
  // 35 ring turns, and the round robin visits all 7 others 5 times in its 35 turns.
  CHECK(probes[successor] == 35 + 5);
  for (const auto& name : names) {
    if (name != "a" && name != successor) CHECK(probes[name] == 5);
  }
  // A successor that is not eligible (dead) passes the turn to the next on the ring.
  auto not_successor = [&](const std::string& name) { return name != successor; };
  int after = 0;
  for (int i = 0; i < 20; ++i) {
    if (*schedule.next(prng, not_successor) == after_successor) ++after;
  }
  CHECK(after >= 10);
  // Without our own name there is no ring: the round robin alone.
  ProbeSchedule plain;
  for (const auto& name : names) plain.add(name, prng);
  std::map<std::string, int> plain_probes;
  for (int i = 0; i < 16; ++i) ++plain_probes[*plain.next(prng, always)];
  for (const auto& name : names) CHECK(plain_probes[name] == 2);
}

TEST_CASE("push-pull goes over TCP as one frame, and the answer comes back the same way",
          "[gossip][sync][tcp]") {
  Options options = make_options("a");
  options.push_pull_interval_ms = 100;
  Gossip a(options, 31, 0);
  for (int i = 0; i < 60; ++i) {  // more than one datagram's worth of members
    const std::string name = "m" + std::to_string(i);
    a.step(name + ":7946", Packet{name, {make_update(name, 1, MemberState::alive)}}, 0);
  }
  std::vector<TcpSync> syncs;
  for (int64_t now = 10; now <= 300 && syncs.empty(); now += 10) {
    a.tick(now);
    CHECK(messages_of<Sync>(a.take_outgoing()).empty());  // no datagram Syncs
    syncs = a.take_tcp_syncs();
  }
  REQUIRE(syncs.size() == 1);  // the whole list in one frame
  REQUIRE(syncs[0].packet.messages.size() == 1);
  const Sync& push = std::get<Sync>(syncs[0].packet.messages[0]);
  CHECK_FALSE(push.is_reply);
  CHECK(push.members.size() == 61);
  CHECK(push.members.front().name == "a");  // ourselves first
  CHECK(a.counters().tcp_syncs_sent == 1);

  // The partner merges it and answers over TCP too, with its own whole list.
  Gossip b(make_options(syncs[0].target), 37, 0);
  b.step_tcp(syncs[0].packet, 400);
  CHECK(b.alive_count() == 61);
  CHECK(messages_of<Sync>(b.take_outgoing()).empty());
  const auto answers = b.take_tcp_syncs();
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].target == "a");
  CHECK(std::get<Sync>(answers[0].packet.messages[0]).is_reply);
  // An answer is merged and not answered again.
  a.step_tcp(answers[0].packet, 410);
  CHECK(a.take_tcp_syncs().empty());
  CHECK(a.counters().tcp_syncs_received == 1);
}

TEST_CASE("a joiner's datagram Sync is answered with datagrams and over TCP; TCP undeliverable "
          "falls back to datagrams",
          "[gossip][sync][tcp]") {
  Gossip seed(make_options("s"), 41, 0);
  for (int i = 0; i < 30; ++i) {
    const std::string name = "m" + std::to_string(i);
    seed.step(name + ":7946", Packet{name, {make_update(name, 1, MemberState::alive)}}, 0);
  }
  seed.take_outgoing();
  Gossip joiner(make_options("j"), 43, 0);
  joiner.join({"s:7946"}, 0);
  const auto pushes = joiner.take_outgoing();
  REQUIRE(messages_of<Sync>(pushes).size() == 1);  // the join itself: a datagram
  CHECK(joiner.take_tcp_syncs().empty());
  seed.step("j:7946", pushes[0].packet, 10);
  // Datagrams (at once, unless one is lost) and one frame (whole) carry the same answer.
  const auto datagrams = seed.take_outgoing();
  const auto chunks = messages_of<Sync>(datagrams);
  REQUIRE(chunks.size() > 1);
  size_t members = 0;
  for (const auto& out : datagrams) {
    CHECK(out.to_address == "j:7946");
    CHECK(packet_size_bound(out.packet) <= Options{}.max_packet_bytes);
  }
  for (const auto& chunk : chunks) {
    CHECK(chunk.is_reply);
    members += chunk.members.size();
  }
  CHECK(members == 32);
  auto answers = seed.take_tcp_syncs();
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].target == "j");
  joiner.step_tcp(answers[0].packet, 20);
  CHECK(joiner.alive_count() == 32);

  // The agent cannot reach it over TCP: that frame's list goes as datagrams too.
  seed.tcp_sync_undeliverable(answers[0]);
  CHECK(messages_of<Sync>(seed.take_outgoing()).size() == chunks.size());
  CHECK(seed.counters().tcp_syncs_undeliverable == 1);
}

TEST_CASE("with tcp_push_pull off, push-pull is datagrams as before", "[gossip][sync][tcp]") {
  Options options = make_options("a");
  options.push_pull_interval_ms = 100;
  options.tcp_push_pull = false;
  Gossip a(options, 47, 0);
  a.step("b:7946", Packet{"b", {make_update("b", 1, MemberState::alive)}}, 0);
  size_t datagram_syncs = 0;
  for (int64_t now = 10; now <= 300; now += 10) {
    a.tick(now);
    datagram_syncs += messages_of<Sync>(a.take_outgoing()).size();
    CHECK(a.take_tcp_syncs().empty());
  }
  CHECK(datagram_syncs >= 1);
}

TEST_CASE("a member told it is suspect answers the teller directly with its refutation",
          "[gossip][refute]") {
  Gossip a(make_options("a"), 53, 0);
  a.step("b:7946", Packet{"b", {make_update("b", 1, MemberState::alive)}}, 0);
  a.take_outgoing();
  MemberUpdate suspicion = make_update("a", 0, MemberState::suspect);
  suspicion.from = "b";
  a.step("b:7946", Packet{"b", {suspicion}}, 10);
  // Refuted (incarnation 1), and b hears it straight away, not only by chance through gossip.
  bool told_b = false;
  for (const auto& out : a.take_outgoing()) {
    for (const auto& update : messages_of<MemberUpdate>({out})) {
      if (out.to_address == "b:7946" && update.name == "a" && update.incarnation == 1 &&
          update.state == MemberState::alive) {
        told_b = true;
      }
    }
  }
  CHECK(told_b);
  // A stale suspicion (already refuted) is answered the same way.
  a.step("b:7946", Packet{"b", {suspicion}}, 20);
  const auto again = messages_of<MemberUpdate>(a.take_outgoing());
  CHECK(std::any_of(again.begin(), again.end(), [](const MemberUpdate& update) {
    return update.name == "a" && update.incarnation == 1 && update.state == MemberState::alive;
  }));
  // News about another agent under our name at another address is not answered as ours.
  MemberUpdate elsewhere = make_update("a", 5, MemberState::suspect, "x:1");
  a.step("b:7946", Packet{"b", {elsewhere}}, 30);
  CHECK(messages_of<MemberUpdate>(a.take_outgoing()).empty());
}

TEST_CASE("every packet stays within max_packet_bytes with long names, metadata and many updates",
          "[gossip][size]") {
  Options options;
  options.name = std::string(kMaxNameBytes - 1, 'n');
  options.address = std::string(100, 'a') + ":7946";
  options.metadata = std::string(140, 'r');
  // The largest possible update (about 1,200 bytes with a packet header) cannot fit.
  options.max_packet_bytes = 1100;
  options.push_pull_interval_ms = 300;
  Gossip node(options, 3, 0);

  Packet packet;
  packet.from = "peer";
  for (int i = 0; i < 40; ++i) {
    MemberUpdate update = make_update(std::string(100, 'm') + std::to_string(i), 1,
                                      MemberState::alive, std::string(90, 'h') + ":1");
    update.metadata = std::string(120, 'x');
    packet.messages.push_back(update);
  }
  node.step("peer:1", packet, 0);
  // An update too large for any packet is dropped and counted, never sent.
  MemberUpdate huge = make_update(std::string(kMaxNameBytes, 'z'), 0, MemberState::alive,
                                  std::string(kMaxAddressBytes, 'h'));
  huge.metadata = std::string(kMaxMetadataBytes, 'x');
  const uint64_t dropped_before = node.counters().updates_dropped;
  node.step("peer:1", Packet{"peer", {huge}}, 0);
  CHECK(node.counters().updates_dropped == dropped_before + 1);

  size_t packets = 0;
  size_t syncs = 0;
  for (int64_t now = 0; now <= 2000; now += 10) {
    node.tick(now);
    // Ask for a full list, which must be split.
    if (now == 500) node.step("peer:1", Packet{"peer", {Sync{false, {}}}}, now);
    for (const auto& out : node.take_outgoing()) {
      ++packets;
      CHECK(packet_size_bound(out.packet) <= options.max_packet_bytes);
      CHECK(out.packet.messages.size() <= kMaxMessagesPerPacket);
      for (const auto& message : out.packet.messages) {
        if (std::holds_alternative<Sync>(message)) ++syncs;
      }
    }
  }
  CHECK(packets > 20);
  CHECK(syncs >= 3);  // 42 long members cannot share one Sync packet
}

TEST_CASE("a Sync list is split across packets and its chunks answered once",
          "[gossip][sync]") {
  Options options = make_options("a");
  Gossip node(options, 5, 0);
  Packet packet{"b", {}};
  for (int i = 0; i < 20; ++i) {
    packet.messages.push_back(make_update("m" + std::to_string(i), 0, MemberState::alive));
  }
  node.step("b:7946", packet, 0);
  node.take_outgoing();
  node.join({"b:7946", "a:7946"}, 0);  // our own address is skipped
  auto out = node.take_outgoing();
  REQUIRE(out.size() > 1);
  std::set<std::string> carried;
  for (size_t i = 0; i < out.size(); ++i) {
    CHECK(out[i].to_address == "b:7946");
    CHECK(packet_size_bound(out[i].packet) <= options.max_packet_bytes);
    const auto& sync = std::get<Sync>(out[i].packet.messages.at(0));
    CHECK(sync.is_reply == (i != 0));  // only the first chunk asks for an answer
    for (const auto& member : sync.members) carried.insert(member.name);
  }
  CHECK(carried.size() == 21);
  CHECK(std::get<Sync>(out[0].packet.messages[0]).members[0].name == "a");  // self first

  // Receiving a reply merges but does not answer.
  Gossip other(make_options("z"), 6, 0);
  other.step("a:7946", out[1].packet, 0);
  CHECK(other.take_outgoing().empty());
  CHECK(other.alive_count() > 1);
}

TEST_CASE("a node told it is suspect or dead refutes with a higher incarnation",
          "[gossip][refute]") {
  Gossip node(make_options("a"), 9, 0);
  MemberUpdate suspect = make_update("a", 0, MemberState::suspect);
  suspect.from = "b";
  node.step("b:7946", Packet{"b", {make_update("b", 0, MemberState::alive), suspect}}, 0);
  CHECK(node.counters().refutations == 1);
  CHECK(node.members().front().incarnation == 1);
  CHECK(node.members().front().state == MemberState::alive);

  // A stale suspicion (lower incarnation) is not refuted again.
  node.step("b:7946", Packet{"b", {suspect}}, 0);
  CHECK(node.counters().refutations == 1);
  node.take_outgoing();  // the direct answers to b (tested below)

  // The refutation goes out piggybacked on the next packet.
  node.step("b:7946", Packet{"b", {Ping{42, "a"}}}, 0);
  auto out = node.take_outgoing();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to_address == "b:7946");
  CHECK(std::get<Ack>(out[0].packet.messages[0]).sequence == 42);
  auto updates = messages_of<MemberUpdate>(out);
  CHECK(std::any_of(updates.begin(), updates.end(), [](const MemberUpdate& u) {
    return u.name == "a" && u.incarnation == 1 && u.state == MemberState::alive;
  }));

  // Dead at our incarnation: refute again, above it.
  node.step("b:7946", Packet{"b", {make_update("a", 1, MemberState::dead)}}, 0);
  CHECK(node.members().front().incarnation == 2);
  CHECK(node.counters().refutations == 2);
}

TEST_CASE("pings for another name are not answered; unknown acks are ignored",
          "[gossip][probe]") {
  Gossip node(make_options("a"), 11, 0);
  node.step("x:1", Packet{"x", {Ping{1, "someone-else"}}}, 0);
  CHECK(node.take_outgoing().empty());
  node.step("x:1", Packet{"x", {Ping{2, ""}}}, 0);  // seed probe by address
  CHECK(node.take_outgoing().size() == 1);
  node.step("x:1", Packet{"x", {Ack{12345}}}, 0);
  CHECK(node.take_outgoing().empty());
  CHECK(node.take_events().empty());
}

TEST_CASE("the datagram source never changes a known member's address", "[gossip][address]") {
  Gossip node(make_options("a"), 13, 0);
  node.step("b:7946", Packet{"b", {make_update("b", 0, MemberState::alive, "b:7946")}}, 0);
  node.step("10.0.0.9:5555", Packet{"b", {Ping{1, "a"}}}, 0);
  auto out = node.take_outgoing();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to_address == "10.0.0.9:5555");  // answered where it came from
  CHECK(node.members()[1].address == "b:7946");  // but the member did not move
}

TEST_CASE("probe, indirect probe, suspicion and death of a silent member", "[gossip][probe]") {
  Options options = make_options("a");
  options.lifeguard = false;  // plain SWIM: a fixed suspicion timeout (Lifeguard: below)
  Gossip node(options, 17, 0);
  Packet intro{"b", {}};
  for (const char* name : {"b", "c", "d", "e"}) {
    intro.messages.push_back(make_update(name, 0, MemberState::alive));
  }
  node.step("b:7946", intro, 0);
  node.take_events();

  // Answer every ping except those to "e"; never relay for PingReqs.
  int64_t suspected_at = -1;
  int64_t failed_at = -1;
  size_t ping_reqs_for_e = 0;
  for (int64_t now = 0; now <= 3000; now += 10) {
    node.tick(now);
    for (const auto& out : node.take_outgoing()) {
      for (const auto& message : out.packet.messages) {
        if (auto* ping = std::get_if<Ping>(&message)) {
          if (ping->target != "e") {
            node.step(out.to_address, Packet{ping->target, {Ack{ping->sequence}}}, now);
          }
        } else if (auto* request = std::get_if<PingReq>(&message)) {
          if (request->target == "e") ++ping_reqs_for_e;
        }
      }
    }
    for (const auto& event : node.take_events()) {
      CHECK(event.member.name == "e");
      if (event.type == EventType::suspected && suspected_at < 0) suspected_at = now;
      if (event.type == EventType::failed && failed_at < 0) failed_at = now;
    }
  }
  CHECK(ping_reqs_for_e >= 3);  // k = 3 helpers, all alive ones but the target
  REQUIRE(suspected_at >= 0);
  REQUIRE(failed_at >= 0);
  CHECK(failed_at - suspected_at >= 500);  // 2 × 250 ms at N = 5
  CHECK(failed_at - suspected_at <= 510);
  CHECK(node.counters().members_failed == 1);
  CHECK(node.counters().suspicions_raised == 1);
  CHECK(node.alive_count() == 4);
}

TEST_CASE("PingReq relays the target's ack with the requester's sequence", "[gossip][probe]") {
  Gossip node(make_options("a"), 19, 0);
  node.step("b:7946", Packet{"b", {PingReq{77, "c", "c:7946"}}}, 0);
  auto out = node.take_outgoing();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to_address == "c:7946");
  const auto ping = std::get<Ping>(out[0].packet.messages[0]);
  CHECK(ping.target == "c");
  node.step("c:7946", Packet{"c", {Ack{ping.sequence}}}, 10);
  out = node.take_outgoing();
  REQUIRE(out.size() == 1);
  CHECK(out[0].to_address == "b:7946");
  CHECK(std::get<Ack>(out[0].packet.messages[0]).sequence == 77);
  // A second ack for the same sequence is not relayed again.
  node.step("c:7946", Packet{"c", {Ack{ping.sequence}}}, 20);
  CHECK(node.take_outgoing().empty());

  // An ack after the relay expired is ignored.
  node.step("b:7946", Packet{"b", {PingReq{78, "c", "c:7946"}}}, 100);
  out = node.take_outgoing();
  const auto late = std::get<Ping>(out.at(0).packet.messages[0]);
  for (int64_t now = 10; now <= 400; now += 10) node.tick(now);
  node.take_outgoing();
  node.step("c:7946", Packet{"c", {Ack{late.sequence}}}, 400);
  CHECK(node.take_outgoing().empty());
}

TEST_CASE("dead members are reaped after dead_member_reap_ms", "[gossip][reap]") {
  Options options = make_options("a");
  options.dead_member_reap_ms = 5000;
  Gossip node(options, 23, 0);
  node.step("b:7946", Packet{"b", {make_update("b", 0, MemberState::alive)}}, 0);
  node.step("c:7946", Packet{"c", {make_update("b", 0, MemberState::dead)}}, 100);
  node.take_events();
  for (int64_t now = 10; now < 5100; now += 10) node.tick(now);
  CHECK(node.members().size() == 2);
  // Reaping runs once a second: by 6100 ms it has, and says so.
  for (int64_t now = 5100; now <= 6100; now += 10) node.tick(now);
  CHECK(node.members().size() == 1);
  const auto events = node.take_events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::reaped);
  CHECK(events[0].member.name == "b");
  // The name may rejoin fresh.
  node.step("b:7946", Packet{"b", {make_update("b", 0, MemberState::alive)}}, 6200);
  CHECK(node.alive_count() == 2);
}

TEST_CASE("push-pull tries recently dead members, not those dead for longer than the "
          "reconnect window",
          "[gossip][reap]") {
  auto sync_targets = [](int64_t dead_for_ms) {
    Options options = make_options("a");
    options.push_pull_interval_ms = 100;
    options.dead_member_reconnect_ms = 10000;
    Gossip node(options, 29, 0);
    node.step("b:7946", Packet{"b", {make_update("b", 0, MemberState::alive)}}, 0);
    node.step("c:7946", Packet{"c", {make_update("b", 0, MemberState::dead)}}, 0);
    std::set<std::string> targets;
    for (int64_t now = 10; now <= dead_for_ms + 3000; now += 10) {
      node.tick(now);
      for (const auto& out : node.take_outgoing()) {
        if (now < dead_for_ms || messages_of<Sync>({out}).empty()) continue;
        targets.insert(out.to_address);
      }
      for (const auto& sync : node.take_tcp_syncs()) {
        if (now >= dead_for_ms) targets.insert(sync.target);
      }
    }
    return targets;
  };
  CHECK(sync_targets(0).count("b") == 1);      // just died: tried (partitions heal)
  CHECK(sync_targets(11000).count("b") == 0);  // dead for over 10 s: left alone
}

TEST_CASE("leave broadcasts left for self and stops refuting", "[gossip][leave]") {
  Gossip node(make_options("a"), 29, 0);
  node.step("b:7946", Packet{"b", {make_update("b", 0, MemberState::alive)}}, 0);
  node.take_outgoing();
  node.leave(10);
  CHECK(node.members().front().state == MemberState::left);
  CHECK(node.alive_count() == 1);
  CHECK_FALSE(node.leave_spread());  // b has not been told yet
  node.step("b:7946", Packet{"b", {make_update("a", 0, MemberState::dead)}}, 20);
  CHECK(node.counters().refutations == 0);
  std::vector<MemberUpdate> sent;
  for (int64_t now = 20; now < 500; now += 10) {
    node.tick(now);
    auto out = node.take_outgoing();
    CHECK(messages_of<Ping>(out).empty());  // no more probing
    auto updates = messages_of<MemberUpdate>(out);
    sent.insert(sent.end(), updates.begin(), updates.end());
  }
  CHECK(std::any_of(sent.begin(), sent.end(), [](const MemberUpdate& u) {
    return u.name == "a" && u.state == MemberState::left;
  }));
  CHECK(node.leave_spread());  // sent its share of times by now

  // Alone, there is nobody to tell: the leave is spread at once (a dev agent stops at once).
  Gossip alone(make_options("solo"), 31, 0);
  alone.leave(10);
  CHECK(alone.leave_spread());
}

TEST_CASE("packets to a suspect member carry its suspicion; its own alive news is skipped",
          "[gossip][dissemination]") {
  Options options = make_options("a");
  Gossip node(options, 31, 0);
  node.step("b:7946", Packet{"b", {make_update("b", 0, MemberState::alive)}}, 0);
  node.step("c:7946", Packet{"c", {make_update("c", 0, MemberState::alive)}}, 0);
  node.take_outgoing();
  // b's alive update is queued, but a packet to b does not spend it on b.
  node.step("b:7946", Packet{"b", {Ping{1, "a"}}}, 0);
  auto out = node.take_outgoing();
  REQUIRE(out.size() == 1);
  for (const auto& update : messages_of<MemberUpdate>(out)) CHECK(update.name != "b");

  // Once b is suspect, every packet to it says so, even with nothing queued about it.
  MemberUpdate suspect = make_update("b", 0, MemberState::suspect);
  suspect.from = "c";
  node.step("c:7946", Packet{"c", {suspect}}, 0);
  for (int i = 0; i < 10; ++i) {
    node.step("b:7946", Packet{"b", {Ping{2, "a"}}}, 0);  // drain the queue
  }
  node.take_outgoing();
  node.step("b:7946", Packet{"b", {Ping{3, "a"}}}, 0);
  out = node.take_outgoing();
  REQUIRE(out.size() == 1);
  auto updates = messages_of<MemberUpdate>(out);
  CHECK(std::count_if(updates.begin(), updates.end(), [](const MemberUpdate& u) {
          return u.name == "b" && u.state == MemberState::suspect;
        }) == 1);
}

TEST_CASE("a stale suspicion about us re-spreads our refutation", "[gossip][refute]") {
  Gossip node(make_options("a"), 37, 0);
  node.step("b:7946", Packet{"b", {make_update("b", 0, MemberState::alive),
                                   make_update("a", 0, MemberState::suspect)}},
            0);
  CHECK(node.members().front().incarnation == 1);
  // Drain the refutation from the queue (limit 4 at N = 2).
  for (int i = 0; i < 6; ++i) node.step("b:7946", Packet{"b", {Ping{1, "a"}}}, 0);
  node.take_outgoing();
  node.step("b:7946", Packet{"b", {Ping{2, "a"}}}, 0);
  CHECK(messages_of<MemberUpdate>(node.take_outgoing()).empty());
  // b still says we are suspect at incarnation 0: our alive(1) goes out again.
  node.step("b:7946", Packet{"b", {make_update("a", 0, MemberState::suspect)}}, 0);
  CHECK(node.counters().refutations == 1);  // not a new refutation
  node.take_outgoing();  // the direct answer to b (tested below); now the queue:
  node.step("b:7946", Packet{"b", {Ping{3, "a"}}}, 0);
  auto updates = messages_of<MemberUpdate>(node.take_outgoing());
  REQUIRE(updates.size() == 1);
  CHECK(updates[0].name == "a");
  CHECK(updates[0].incarnation == 1);
  CHECK(updates[0].state == MemberState::alive);
}

TEST_CASE("a Sync's dead members become suspects here (memberlist mergeState)",
          "[gossip][sync]") {
  Gossip node(make_options("a"), 41, 0);
  node.step("b:7946", Packet{"b", {make_update("b", 0, MemberState::alive),
                                   make_update("c", 0, MemberState::alive)}},
            0);
  node.take_events();
  Sync sync;
  sync.is_reply = true;
  sync.members.push_back(make_update("c", 0, MemberState::dead));
  node.step("b:7946", Packet{"b", {sync}}, 10);
  auto events = node.take_events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::suspected);
  CHECK(node.members()[2].state == MemberState::suspect);
  // A direct dead update is a death, though.
  node.step("b:7946", Packet{"b", {make_update("c", 0, MemberState::dead)}}, 20);
  CHECK(node.members()[2].state == MemberState::dead);
}

TEST_CASE("a restarted member speaks above its previous life at once (initial incarnation)",
          "[gossip][restart]") {
  Gossip node(make_options("a"), 43, 0);
  MemberUpdate previous = make_update("b", 4, MemberState::alive);
  previous.metadata = "server id 1";
  node.step("b:7946", Packet{"b", {previous}}, 0);
  node.take_events();
  // The new life's first incarnation is its boot time in ms: above anything the old one said,
  // so its new metadata replaces the old without a round of refutation.
  Options restarted = make_options("b");
  restarted.metadata = "server id 2";
  restarted.initial_incarnation = 1'700'000'000'000;
  Gossip b(restarted, 45, 0);
  b.join({"a:7946"}, 0);
  for (const auto& out : b.take_outgoing()) node.step("b:7946", out.packet, 10);
  const auto events = node.take_events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::updated);
  CHECK(events[0].member.metadata == "server id 2");
  CHECK(events[0].member.incarnation == 1'700'000'000'000);
}
