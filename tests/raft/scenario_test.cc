// Scenario tests: whole groups over the in-test network of tests/raft/cluster.h, including the
// Raft paper's Figures 7 and 8.
#include <catch2/catch.hpp>

#include <map>

#include "common/prng.h"
#include "tests/raft/cluster.h"

namespace conclave::raft {
namespace {

using testing::Cluster;
using testing::SimulatedStore;

// Ticks the cluster until some live node is leader; fails after `max_ticks`.
NodeId run_until_leader(Cluster& cluster, int max_ticks = 500) {
  for (int i = 0; i < max_ticks; ++i) {
    cluster.tick_all();
    cluster.stabilize();
    std::vector<NodeId> leaders = cluster.leaders();
    if (!leaders.empty()) {
      REQUIRE(leaders.size() == 1);
      return leaders[0];
    }
  }
  FAIL("no leader elected within " << max_ticks << " ticks");
  return kNoNode;
}

std::vector<std::string> applied_data(const Cluster& cluster, NodeId id) {
  std::vector<std::string> out;
  for (const Entry& e : cluster.applied(id)) out.push_back(e.data);
  return out;
}

// Entries for a Figure 7 log: data names the (term, index) so equal positions hold equal data.
SimulatedStore store_with_terms(std::vector<Term> terms, Term current_term) {
  SimulatedStore store;
  store.hard_state = HardState{current_term, kNoNode, 0};
  for (size_t i = 0; i < terms.size(); ++i) {
    store.entries.push_back(
        Entry{terms[i], i + 1, "t" + std::to_string(terms[i]) + "i" + std::to_string(i + 1)});
  }
  return store;
}

TEST_CASE("scenario: 3-node and 5-node groups elect exactly one leader", "[scenario][election]") {
  for (size_t size : {3u, 5u}) {
    for (uint64_t seed = 1; seed <= 10; ++seed) {
      INFO(size << " nodes, seed " << seed);
      Cluster cluster(size, seed);
      const NodeId leader = run_until_leader(cluster);
      const Term term = cluster.node(leader).term();
      // Let heartbeats settle; the leader must stay, and everyone must follow it.
      cluster.run(30);
      CHECK(cluster.leaders() == std::vector<NodeId>{leader});
      for (NodeId id : cluster.voters()) {
        CHECK(cluster.node(id).term() == term);
        CHECK(cluster.node(id).leader() == leader);
        CHECK(cluster.node(id).role() == (id == leader ? Role::leader : Role::follower));
        // The leader's no-op committed and applied everywhere.
        CHECK(cluster.node(id).commit_index() == 1);
        CHECK(cluster.node(id).applied_index() == 1);
      }
    }
  }
}

TEST_CASE("scenario: never two leaders in one term, under message loss", "[scenario][election]") {
  Cluster cluster(5, 3);
  Prng loss(99);
  cluster.drop = [&loss](const Message&) { return loss.chance(0.3); };
  std::map<Term, NodeId> leader_of_term;
  for (int i = 0; i < 400; ++i) {
    cluster.tick_all();
    cluster.stabilize();
    for (NodeId id : cluster.voters()) {
      if (cluster.node(id).role() != Role::leader) continue;
      auto [it, inserted] = leader_of_term.emplace(cluster.node(id).term(), id);
      INFO("term " << cluster.node(id).term());
      CHECK(it->second == id);
    }
  }
  CHECK_FALSE(leader_of_term.empty());
}

TEST_CASE("scenario: the leader replicates and commits proposals", "[scenario][replication]") {
  Cluster cluster(3);
  cluster.elect(1);
  for (const char* data : {"a", "b", "c"}) REQUIRE(cluster.node(1).propose(data).ok());
  cluster.stabilize();
  const std::vector<std::string> expected = {"", "a", "b", "c"};
  for (NodeId id : cluster.voters()) {
    INFO("node " << id);
    CHECK(cluster.node(id).last_index() == 4);
    CHECK(cluster.node(id).commit_index() == 4);
    CHECK(applied_data(cluster, id) == expected);
    CHECK(cluster.store(id).hard_state.commit == 4);
  }
}

TEST_CASE("scenario: long logs move in bounded appends", "[scenario][replication]") {
  Cluster cluster(3, 1, [](Config& config) {
    config.max_entries_per_append = 3;
    config.max_bytes_per_append = 100;
  });
  cluster.elect(1);
  for (int i = 0; i < 40; ++i) REQUIRE(cluster.node(1).propose(std::string(30, 'a' + i % 26)).ok());
  cluster.stabilize();
  for (const std::string& line : cluster.transcript()) {
    // At most 3 entries, and 30-byte entries fit 3 to 100 bytes: count the '@' separators.
    CHECK(std::count(line.begin(), line.end(), '@') <= 3);
  }
  for (NodeId id : cluster.voters()) CHECK(cluster.node(id).applied_index() == 41);
}

TEST_CASE("scenario: a follower forwards proposals to the leader", "[scenario][propose]") {
  Cluster cluster(3);
  cluster.elect(1);
  Result<Index> forwarded = cluster.node(3).propose("from 3");
  REQUIRE(forwarded.ok());
  CHECK(forwarded.value() == 0);
  cluster.stabilize();
  for (NodeId id : cluster.voters()) {
    CHECK(applied_data(cluster, id) == std::vector<std::string>{"", "from 3"});
  }
}

TEST_CASE("scenario: no leader means a no_leader error", "[scenario][propose]") {
  Cluster cluster(3);
  for (NodeId id : cluster.voters()) {
    Result<Index> result = cluster.node(id).propose("x");
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::no_leader);
  }
}

TEST_CASE("scenario: a follower's divergent uncommitted suffix is repaired",
          "[scenario][replication]") {
  Cluster cluster(3);
  cluster.elect(1);
  // Node 1 appends two entries nobody else receives.
  cluster.isolate(1);
  REQUIRE(cluster.node(1).propose("lost x").ok());
  REQUIRE(cluster.node(1).propose("lost y").ok());
  cluster.stabilize();
  CHECK(cluster.node(1).last_index() == 3);
  CHECK(cluster.node(1).commit_index() == 1);

  // Node 2 leads term 2 with nodes 2 and 3 and commits its own entries at indexes 2 and 3.
  cluster.elect(2);
  REQUIRE(cluster.node(2).propose("kept z").ok());
  cluster.stabilize();
  CHECK(cluster.node(2).commit_index() == 3);

  // Node 1 comes back. Heartbeats from the new leader make it a follower and repair its log.
  cluster.heal(1);
  for (int i = 0; i < 10; ++i) {
    cluster.tick(2);
    cluster.stabilize();
  }
  CHECK(cluster.node(1).role() == Role::follower);
  CHECK(cluster.node(1).leader() == 2);
  CHECK(cluster.node(1).term() == 2);
  CHECK(cluster.log_of(1) == cluster.log_of(2));
  CHECK(cluster.node(1).entry_at(2) == Entry{2, 2, ""});
  CHECK(cluster.node(1).entry_at(3) == Entry{2, 3, "kept z"});
  CHECK(applied_data(cluster, 1) == (std::vector<std::string>{"", "", "kept z"}));
  // The store was overwritten too (Ready entries replace from their first index).
  CHECK(cluster.store(1).entries == cluster.log_of(2));
}

TEST_CASE("scenario: Figure 7 followers with missing and extra entries converge",
          "[scenario][figure7]") {
  // Raft paper Figure 7: the leader of term 8 (node 1) and followers (a)-(f).
  const std::vector<Term> leader_log = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  const std::map<NodeId, std::vector<Term>> follower_logs = {
      {2, {1, 1, 1, 4, 4, 5, 5, 6, 6}},              // (a) missing one
      {3, {1, 1, 1, 4}},                              // (b) missing many
      {4, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6}},        // (c) one extra, uncommitted
      {5, {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7}},     // (d) extra entries of term 7
      {6, {1, 1, 1, 4, 4, 4, 4}},                     // (e) missing and extra
      {7, {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}},        // (f) a whole divergent history
  };
  Cluster cluster(7);
  cluster.load(1, store_with_terms(leader_log, 7));
  for (const auto& [id, terms] : follower_logs) cluster.load(id, store_with_terms(terms, 7));

  cluster.elect(1);  // votes from (a), (b), (e), (f): their logs are not more up-to-date
  CHECK(cluster.node(1).term() == 8);
  for (int i = 0; i < 20; ++i) {
    cluster.tick(1);
    cluster.stabilize();
  }
  std::vector<Entry> expected = store_with_terms(leader_log, 8).entries;
  expected.push_back(Entry{8, 11, ""});  // the term-8 no-op
  for (NodeId id : cluster.voters()) {
    INFO("node " << id);
    CHECK(cluster.log_of(id) == expected);
    CHECK(cluster.store(id).entries == expected);
    CHECK(cluster.node(id).commit_index() == 11);
    CHECK(cluster.node(id).applied_index() == 11);
  }
}

// Figure 8 (a)-(c), adapted to a leader that appends a no-op when elected:
//   (a) node 1 leads term 1, replicates entry 2 ("x", term 1) to node 2 only;
//   (b) node 1 is cut off; node 5 leads term 2 with votes from 3 and 4 and appends its no-op at
//       index 2 (term 2) but replicates nothing;
//   (c) node 5 is cut off; node 1 leads term 3 and replicates entry 2 (term 1) to a majority,
//       but not its own no-op of term 3.
void figure8_until_c(Cluster& cluster) {
  cluster.elect(1);
  cluster.drop = [](const Message& m) { return m.from == 1 && m.to >= 3; };
  REQUIRE(cluster.node(1).propose("x").ok());
  cluster.stabilize();
  REQUIRE(cluster.node(2).last_index() == 2);
  REQUIRE(cluster.node(3).last_index() == 1);
  REQUIRE(cluster.node(1).commit_index() == 1);

  // (b)
  cluster.isolate(1);
  cluster.drop = [](const Message& m) {
    return m.from == 5 && m.type == MessageType::append_request;
  };
  cluster.node(5).campaign();
  cluster.stabilize();
  REQUIRE(cluster.node(5).role() == Role::leader);
  REQUIRE(cluster.node(5).term() == 2);
  REQUIRE(cluster.node(5).entry_at(2) == Entry{2, 2, ""});

  // (c) node 1 first notices it lost its quorum, then wins term 3 (term 2 votes are spent).
  cluster.isolate(5);
  cluster.drop = nullptr;
  for (int i = 0; i < 10; ++i) cluster.tick(1);
  cluster.stabilize();
  REQUIRE(cluster.node(1).role() == Role::follower);
  cluster.heal(1);
  // Appends carrying entry 3 are lost on the way to nodes that hold entry 2 (those that lack it
  // must still see them, to reject them and be sent entry 2).
  cluster.drop = [&cluster](const Message& m) {
    return m.from == 1 && m.type == MessageType::append_request && !m.entries.empty() &&
           m.entries.back().index >= 3 && cluster.node(m.to).last_index() >= 2;
  };
  cluster.node(1).campaign();
  cluster.stabilize();
  if (cluster.node(1).role() != Role::leader) {
    cluster.node(1).campaign();
    cluster.stabilize();
  }
  REQUIRE(cluster.node(1).role() == Role::leader);
  REQUIRE(cluster.node(1).term() == 3);
  REQUIRE(cluster.node(1).entry_at(3) == Entry{3, 3, ""});
}

TEST_CASE("scenario: Figure 8, a leader does not commit an old-term entry by counting replicas",
          "[scenario][figure8]") {
  Cluster cluster(5, 1, [](Config& config) { config.max_entries_per_append = 1; });
  figure8_until_c(cluster);
  // Entry 2 (term 1) is now on nodes 1, 2, 3 and 4: a majority...
  for (NodeId id : {1, 2, 3, 4}) {
    INFO("node " << id);
    REQUIRE(cluster.node(id).last_index() >= 2);
    CHECK(cluster.node(id).entry_at(2) == Entry{1, 2, "x"});
  }
  // ...but it is of an older term, so it is not committed (§5.4.2).
  CHECK(cluster.node(1).commit_index() == 1);
  for (int i = 0; i < 5; ++i) {
    cluster.tick(1);
    cluster.stabilize();
  }
  CHECK(cluster.node(1).commit_index() == 1);
  for (NodeId id : {2, 3, 4}) CHECK(cluster.node(id).commit_index() == 1);

  // (d) node 1 is cut off before its no-op spreads; node 5 wins term 4 (its last term 2 beats
  // everyone's 1) and overwrites entry 2 everywhere. That is safe because nobody committed it.
  cluster.isolate(1);
  cluster.drop = nullptr;
  for (int i = 0; i < 10; ++i) cluster.tick(5);
  cluster.stabilize();
  REQUIRE(cluster.node(5).role() == Role::follower);
  cluster.heal(5);
  cluster.node(5).campaign();  // term 3: votes already spent on node 1
  cluster.stabilize();
  CHECK(cluster.node(5).role() == Role::follower);
  cluster.node(5).campaign();  // term 4
  cluster.stabilize();
  REQUIRE(cluster.node(5).role() == Role::leader);
  CHECK(cluster.node(5).term() == 4);
  for (NodeId id : {2, 3, 4, 5}) {
    INFO("node " << id);
    CHECK(cluster.node(id).entry_at(2) == Entry{2, 2, ""});
    CHECK(cluster.node(id).entry_at(3) == Entry{4, 3, ""});
    CHECK(cluster.node(id).commit_index() == 3);
    CHECK(applied_data(cluster, id) == (std::vector<std::string>{"", "", ""}));
  }
}

TEST_CASE("scenario: Figure 8 (e), once the leader's own-term entry is on a majority, both commit",
          "[scenario][figure8]") {
  Cluster cluster(5, 1, [](Config& config) { config.max_entries_per_append = 1; });
  figure8_until_c(cluster);
  cluster.drop = nullptr;
  for (int i = 0; i < 5; ++i) {
    cluster.tick(1);
    cluster.stabilize();
  }
  CHECK(cluster.node(1).commit_index() == 3);
  CHECK(applied_data(cluster, 1) == (std::vector<std::string>{"", "x", ""}));
  // Node 5 can no longer win: its log (last term 2) is behind a majority's (last term 3).
  cluster.isolate(1);
  for (int i = 0; i < 10; ++i) cluster.tick(5);
  cluster.stabilize();
  cluster.heal(5);
  for (int attempt = 0; attempt < 3; ++attempt) {
    cluster.node(5).campaign();
    cluster.stabilize();
    CHECK(cluster.node(5).role() != Role::leader);
  }
}

TEST_CASE("scenario: check-quorum makes an isolated leader step down", "[scenario][check_quorum]") {
  Cluster cluster(3);
  cluster.elect(1);
  // A connected leader keeps its role through many election timeouts.
  cluster.run(50);
  REQUIRE(cluster.node(1).role() == Role::leader);
  REQUIRE(cluster.node(1).term() == 1);

  cluster.isolate(1);
  int ticks = 0;
  while (cluster.node(1).role() == Role::leader) {
    cluster.tick(1);
    cluster.stabilize();
    REQUIRE(++ticks <= 10);  // within election_ticks
  }
  CHECK(cluster.node(1).role() == Role::follower);
  CHECK(cluster.node(1).leader() == kNoNode);
  Result<Index> result = cluster.node(1).propose("x");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::no_leader);

  // The majority side elects a new leader; when node 1 returns, the higher term wins it over.
  const NodeId new_leader = run_until_leader(cluster);
  CHECK(new_leader != 1);
  cluster.heal(1);
  cluster.run(10);
  CHECK(cluster.node(1).role() == Role::follower);
  CHECK(cluster.node(1).leader() == new_leader);
  CHECK(cluster.node(1).term() == cluster.node(new_leader).term());
}

TEST_CASE("scenario: lost messages are recovered once the network heals",
          "[scenario][replication]") {
  Cluster cluster(3, 5);
  cluster.elect(1);
  Prng loss(7);
  cluster.drop = [&loss](const Message& m) {
    // Lose appends and their answers, but keep the leader in place (no vote traffic).
    return (m.type == MessageType::append_request || m.type == MessageType::append_response) &&
           loss.chance(0.5);
  };
  for (int i = 0; i < 100; ++i) {
    if (cluster.node(1).role() == Role::leader) {
      REQUIRE(cluster.node(1).propose("v" + std::to_string(i)).ok());
    }
    cluster.stabilize();
    if (i % 10 == 0) {
      cluster.tick(1);
      cluster.stabilize();
    }
  }
  cluster.drop = nullptr;
  cluster.run(20);
  const NodeId leader = cluster.leaders().at(0);
  const Index last = cluster.node(leader).last_index();
  for (NodeId id : cluster.voters()) {
    INFO("node " << id);
    CHECK(cluster.node(id).commit_index() == last);
    CHECK(cluster.node(id).applied_index() == last);
    CHECK(cluster.log_of(id) == cluster.log_of(leader));
  }
}

TEST_CASE("scenario: a restarted follower recovers from its store and catches up",
          "[scenario][recovery]") {
  Cluster cluster(3);
  cluster.elect(1);
  REQUIRE(cluster.node(1).propose("a").ok());
  cluster.stabilize();
  cluster.isolate(3);
  REQUIRE(cluster.node(1).propose("b").ok());
  cluster.stabilize();
  cluster.restart(3);
  CHECK(cluster.node(3).term() == 1);
  CHECK(cluster.node(3).last_index() == 2);
  CHECK(cluster.node(3).applied_index() == 2);
  cluster.heal(3);
  cluster.run(5);
  CHECK(applied_data(cluster, 3) == (std::vector<std::string>{"", "a", "b"}));
}

std::vector<std::string> run_lossy_transcript(uint64_t seed) {
  Cluster cluster(5, seed);
  Prng loss(seed);
  cluster.drop = [&loss](const Message&) { return loss.chance(0.2); };
  for (int i = 0; i < 300; ++i) {
    cluster.tick_all();
    cluster.stabilize();
    for (NodeId id : cluster.voters()) {
      if (cluster.node(id).role() == Role::leader && i % 7 == 0) {
        (void)cluster.node(id).propose("p" + std::to_string(i)).ok();
      }
    }
  }
  return cluster.transcript();
}

TEST_CASE("scenario: same seed and inputs give identical message transcripts",
          "[scenario][determinism]") {
  const std::vector<std::string> first = run_lossy_transcript(42);
  const std::vector<std::string> second = run_lossy_transcript(42);
  REQUIRE(first.size() > 100);
  CHECK(first == second);
  CHECK(first != run_lossy_transcript(43));  // and the seed does matter
}


}  // namespace
}  // namespace conclave::raft

namespace conclave::raft {
namespace {

using testing::Cluster;

TEST_CASE("scenario: ReadIndex confirms a read with one quorum round, at the commit index",
          "[scenario][read_index]") {
  Cluster cluster(3);
  cluster.elect(1);
  REQUIRE(cluster.node(1).propose("a").ok());
  cluster.stabilize();
  const Index commit = cluster.node(1).commit_index();
  REQUIRE(cluster.node(1).read_index(7).ok());
  cluster.stabilize();
  REQUIRE(cluster.read_states(1).size() == 1);
  CHECK(cluster.read_states(1)[0] == ReadState{7, commit});
  // No log entry was added for it.
  CHECK(cluster.node(1).last_index() == commit);
}

TEST_CASE("scenario: many reads share one heartbeat round", "[scenario][read_index]") {
  Cluster cluster(3);
  cluster.elect(1);
  cluster.network().clear();
  for (uint64_t context = 1; context <= 100; ++context) {
    REQUIRE(cluster.node(1).read_index(context).ok());
  }
  cluster.handle_ready(1);
  size_t heartbeats = 0;
  for (const Message& m : cluster.network()) {
    if (m.type == MessageType::append_request) ++heartbeats;
  }
  CHECK(heartbeats == 2);  // one per follower, for 100 reads
  cluster.stabilize();
  CHECK(cluster.read_states(1).size() == 100);
}

TEST_CASE("scenario: a leader cut off from its quorum never confirms a read (no stale read)",
          "[scenario][read_index]") {
  Cluster cluster(3);
  cluster.elect(1);
  // Node 1 is cut off but does not know it yet; 2 is elected and commits a new write.
  cluster.isolate(1);
  cluster.heal(1);
  cluster.drop = [](const Message& m) { return m.from == 1 || m.to == 1; };
  cluster.node(2).campaign();
  cluster.stabilize();
  REQUIRE(cluster.node(2).role() == Role::leader);
  REQUIRE(cluster.node(2).propose("new").ok());
  cluster.stabilize();
  // The old leader still believes it leads, and is asked for a read.
  REQUIRE(cluster.node(1).role() == Role::leader);
  REQUIRE(cluster.node(1).read_index(9).ok());
  for (int tick = 0; tick < 30; ++tick) {
    cluster.tick(1);
    cluster.stabilize();
  }
  CHECK(cluster.read_states(1).empty());  // never confirmed...
  CHECK(cluster.node(1).role() != Role::leader);  // ...and dropped when it stepped down
  CHECK(cluster.node(1).counters().reads_dropped == 1);
}

TEST_CASE("scenario: a new leader confirms reads only after committing in its term",
          "[scenario][read_index]") {
  Cluster cluster(3);
  cluster.elect(1);
  cluster.drop = [](const Message& m) { return m.type == MessageType::append_response; };
  cluster.node(2).campaign();
  cluster.stabilize();
  REQUIRE(cluster.node(2).role() == Role::leader);
  REQUIRE(cluster.node(2).read_index(5).ok());
  cluster.stabilize();
  CHECK(cluster.read_states(2).empty());  // its no-op is not committed: commit may be stale
  cluster.drop = nullptr;
  cluster.run(3);
  REQUIRE(cluster.read_states(2).size() == 1);
  CHECK(cluster.read_states(2)[0].index == cluster.node(2).commit_index());
  CHECK(cluster.node(2).entry_at(cluster.read_states(2)[0].index).term == cluster.node(2).term());
}

TEST_CASE("scenario: a follower refuses read_index and names the error", "[scenario][read_index]") {
  Cluster cluster(3);
  cluster.elect(1);
  Status status = cluster.node(2).read_index(1);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == ErrorCode::not_leader);
  Cluster single(1);
  single.elect(1);
  REQUIRE(single.node(1).read_index(3).ok());
  single.stabilize();
  CHECK(single.read_states(1).size() == 1);  // a group of one is its own quorum
}


}  // namespace
}  // namespace conclave::raft

namespace conclave::raft {
namespace {

using testing::Cluster;

TEST_CASE("scenario: a server back from a partition does not disturb the leader (pre-vote)",
          "[scenario][pre_vote]") {
  for (const bool pre_vote : {true, false}) {
    Cluster cluster(3, 7, [&](Config& config) { config.pre_vote = pre_vote; });
    cluster.elect(1);
    cluster.run(20);
    const Term term_before = cluster.node(1).term();
    // Node 3 is cut off long enough to time out many times.
    cluster.isolate(3);
    for (int i = 0; i < 200; ++i) {
      cluster.tick(3);  // isolated nodes are not ticked by run()
      cluster.run(1);
    }
    cluster.heal(3);
    cluster.run(100);
    INFO("pre_vote " << pre_vote);
    if (pre_vote) {
      // It kept its term while away, so the leader never heard of a higher one.
      CHECK(cluster.node(1).role() == Role::leader);
      CHECK(cluster.node(1).term() == term_before);
      CHECK(cluster.node(3).term() == term_before);
      CHECK(cluster.node(3).leader() == 1);
    } else {
      // The control: without pre-vote its term ran ahead and deposed the healthy leader.
      CHECK(cluster.node(1).term() > term_before);
    }
  }
}

TEST_CASE("scenario: leadership transfer hands over without an election timeout",
          "[scenario][transfer]") {
  Cluster cluster(3);
  cluster.elect(1);
  REQUIRE(cluster.node(1).propose("x").ok());
  cluster.stabilize();
  // Node 3 lags: the transfer brings it up to date before telling it to campaign.
  cluster.isolate(3);
  REQUIRE(cluster.node(1).propose("y").ok());
  cluster.stabilize();
  cluster.heal(3);
  REQUIRE(cluster.node(1).transfer_leadership(3).ok());
  CHECK(cluster.node(1).transfer_target() == 3);
  // Proposals stop while the transfer is under way.
  Result<Index> refused = cluster.node(1).propose("z");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::unavailable);
  // Node 3 missed an append while cut off: the leader notices at its next heartbeat, catches
  // it up, then tells it to campaign. All well within an election timeout (10 ticks).
  int ticks = 0;
  cluster.stabilize();
  while (cluster.node(3).role() != Role::leader && ticks < 10) {
    cluster.run(1);
    ++ticks;
  }
  CHECK(ticks < 10);
  CHECK(cluster.node(3).role() == Role::leader);
  CHECK(cluster.node(3).term() == 2);
  CHECK(cluster.node(1).role() == Role::follower);
  CHECK(cluster.node(1).leader() == 3);
  CHECK(cluster.node(3).propose("z").ok());
  cluster.stabilize();
  CHECK(cluster.node(1).commit_index() == cluster.node(3).last_index());
}

TEST_CASE("scenario: a transfer to a target that never answers is given up", "[scenario][transfer]") {
  Cluster cluster(3);
  cluster.elect(1);
  cluster.isolate(2);
  REQUIRE(cluster.node(1).transfer_leadership(2).ok());
  cluster.run(25);  // more than election_ticks
  CHECK(cluster.node(1).role() == Role::leader);
  CHECK(cluster.node(1).transfer_target() == kNoNode);
  CHECK(cluster.node(1).propose("after").ok());
}


// ---- membership changes (thesis §4.1-4.2) ---------------------------------------------------

Result<Index> change(Cluster& cluster, NodeId leader, MembershipChangeType type, NodeId node) {
  return cluster.node(leader).change_membership(MembershipChange{type, node});
}

TEST_CASE("scenario: a learner catches up without counting, then is promoted and votes",
          "[scenario][membership]") {
  Cluster cluster(3);
  cluster.elect(1);
  for (int i = 0; i < 100; ++i) REQUIRE(cluster.node(1).propose("v" + std::to_string(i)).ok());
  cluster.stabilize();
  cluster.add_node(4);
  // A new server knows no membership: ticking it for ever never starts an election.
  for (int i = 0; i < 100; ++i) cluster.tick(4);
  cluster.stabilize();
  CHECK(cluster.node(4).term() == 0);
  CHECK(cluster.node(4).role() == Role::follower);

  const Result<Index> added = change(cluster, 1, MembershipChangeType::add_learner, 4);
  REQUIRE(added.ok());
  // The membership applies on the leader as soon as it is in its log (§4.1).
  CHECK(cluster.node(1).membership().learners == std::vector<NodeId>{4});
  cluster.run(5);
  CHECK(cluster.node(4).last_index() == cluster.node(1).last_index());
  CHECK(cluster.node(4).membership().learners == std::vector<NodeId>{4});
  CHECK(cluster.node(4).commit_index() == cluster.node(1).commit_index());
  CHECK(applied_data(cluster, 4).size() == applied_data(cluster, 1).size());

  // It does not count towards a quorum: with 2 and 3 cut off, nothing commits.
  cluster.isolate(2);
  cluster.isolate(3);
  const Index commit_before = cluster.node(1).commit_index();
  REQUIRE(cluster.node(1).propose("needs a voter").ok());
  cluster.stabilize();
  CHECK(cluster.node(1).commit_index() == commit_before);
  CHECK(cluster.node(4).last_index() == cluster.node(1).last_index());  // it did get it
  cluster.heal_all();
  cluster.run(5);
  CHECK(cluster.node(1).commit_index() == cluster.node(1).last_index());

  // Promoted, it counts: with 2 and 3 cut off, 1 and 4 are 2 of 4 (no quorum); with only 3
  // cut off, 1, 2 and 4 commit.
  REQUIRE(change(cluster, 1, MembershipChangeType::promote, 4).ok());
  cluster.run(5);
  CHECK(cluster.node(1).membership().voters == std::vector<NodeId>{1, 2, 3, 4});
  CHECK(cluster.node(4).membership().voters == std::vector<NodeId>{1, 2, 3, 4});
  cluster.isolate(3);
  REQUIRE(cluster.node(1).propose("with 4").ok());
  cluster.stabilize();
  CHECK(cluster.node(1).commit_index() == cluster.node(1).last_index());
  // And it can now lead.
  cluster.heal_all();
  cluster.run(5);
  REQUIRE(cluster.node(1).transfer_leadership(4).ok());
  cluster.run(10);
  CHECK(cluster.node(4).role() == Role::leader);
}

TEST_CASE("scenario: membership changes go one at a time, after the leader commits in its term",
          "[scenario][membership]") {
  Cluster cluster(3);
  cluster.node(1).campaign();
  // Elected but its no-op is not committed yet: no change may start (the single-server
  // change bug, Ongaro raft-dev 2015).
  cluster.handle_all_ready();
  while (!cluster.network().empty() && cluster.node(1).role() != Role::leader) {
    Message m = cluster.network().front();
    cluster.network().pop_front();
    REQUIRE(cluster.deliver(m).ok());
    cluster.handle_all_ready();
  }
  REQUIRE(cluster.node(1).role() == Role::leader);
  REQUIRE(cluster.node(1).commit_index() == 0);
  cluster.add_node(4);
  cluster.add_node(5);
  Result<Index> early = change(cluster, 1, MembershipChangeType::add_learner, 4);
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().code == ErrorCode::unavailable);
  cluster.stabilize();

  cluster.isolate(2);
  cluster.isolate(3);
  REQUIRE(change(cluster, 1, MembershipChangeType::add_learner, 4).ok());
  cluster.stabilize();
  Result<Index> second = change(cluster, 1, MembershipChangeType::add_learner, 5);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == ErrorCode::unavailable);
  cluster.heal_all();
  cluster.run(5);
  CHECK(change(cluster, 1, MembershipChangeType::add_learner, 5).ok());

  // Changes that do not fit the membership are refused.
  cluster.run(5);
  CHECK(change(cluster, 1, MembershipChangeType::add_learner, 2).error().code ==
        ErrorCode::invalid_argument);
  CHECK(change(cluster, 1, MembershipChangeType::promote, 2).error().code ==
        ErrorCode::invalid_argument);
  CHECK(change(cluster, 1, MembershipChangeType::remove, 9).error().code ==
        ErrorCode::invalid_argument);
  CHECK(change(cluster, 2, MembershipChangeType::remove, 3).error().code ==
        ErrorCode::not_leader);
}

TEST_CASE("scenario: the leader removes itself, commits that without its own copy, and hands over",
          "[scenario][membership]") {
  Cluster cluster(3);
  cluster.elect(1);
  REQUIRE(cluster.node(1).propose("before").ok());
  cluster.stabilize();
  const Term term_before = cluster.node(1).term();
  REQUIRE(change(cluster, 1, MembershipChangeType::remove, 1).ok());
  // Still leading until the change commits (it must replicate it), without counting itself.
  CHECK(cluster.node(1).role() == Role::leader);
  cluster.stabilize();
  CHECK(cluster.node(1).role() == Role::follower);
  CHECK(cluster.node(2).membership().voters == std::vector<NodeId>{2, 3});
  // It handed over at once (timeout_now): a new leader without waiting out a timeout.
  std::vector<NodeId> leaders = cluster.leaders();
  REQUIRE(leaders.size() == 1);
  CHECK(leaders[0] != 1);
  CHECK(cluster.node(leaders[0]).term() == term_before + 1);
  // The removed server never campaigns again, however long it waits.
  // (The new leader no longer sends it anything: it is not a member.)
  const Term removed_term = cluster.node(1).term();
  for (int i = 0; i < 300; ++i) {
    cluster.tick(1);
    cluster.stabilize();
  }
  CHECK(cluster.node(1).role() == Role::follower);
  CHECK(cluster.node(1).term() == removed_term);
  CHECK(cluster.node(leaders[0]).role() == Role::leader);
  CHECK(cluster.node(leaders[0]).term() == term_before + 1);
  cluster.heal_all();
  REQUIRE(cluster.node(leaders[0]).propose("after").ok());
  cluster.run(5);
  CHECK(cluster.node(leaders[0]).commit_index() == cluster.node(leaders[0]).last_index());
}

TEST_CASE("scenario: a server removed and added again catches up and votes again",
          "[scenario][membership]") {
  Cluster cluster(3);
  cluster.elect(1);
  cluster.isolate(3);  // it "failed"
  REQUIRE(change(cluster, 1, MembershipChangeType::remove, 3).ok());
  cluster.stabilize();
  CHECK(cluster.node(1).membership().voters == std::vector<NodeId>{1, 2});
  for (int i = 0; i < 20; ++i) REQUIRE(cluster.node(1).propose("w" + std::to_string(i)).ok());
  cluster.stabilize();
  CHECK(cluster.node(1).commit_index() == cluster.node(1).last_index());
  // Back, with its old log (in which it is still a voter): it gets nothing from the leader
  // and cannot disturb it (pre-vote; the others are in their leader lease).
  cluster.heal(3);
  const Term term = cluster.node(1).term();
  for (int i = 0; i < 100; ++i) {
    cluster.tick(3);
    cluster.run(1);
  }
  CHECK(cluster.node(1).role() == Role::leader);
  CHECK(cluster.node(1).term() == term);
  // Added again: as a learner first, then promoted.
  REQUIRE(change(cluster, 1, MembershipChangeType::add_learner, 3).ok());
  cluster.run(5);
  CHECK(cluster.node(3).last_index() == cluster.node(1).last_index());
  REQUIRE(change(cluster, 1, MembershipChangeType::promote, 3).ok());
  cluster.run(5);
  CHECK(cluster.node(3).membership().voters == std::vector<NodeId>{1, 2, 3});
  cluster.isolate(2);
  REQUIRE(cluster.node(1).propose("needs 3").ok());
  cluster.stabilize();
  CHECK(cluster.node(1).commit_index() == cluster.node(1).last_index());
  CHECK(applied_data(cluster, 3) == applied_data(cluster, 1));
}

TEST_CASE("scenario: an uncommitted membership entry that is overwritten stops applying",
          "[scenario][membership]") {
  Cluster cluster(3);
  cluster.elect(1);
  cluster.add_node(4);
  cluster.isolate(1);  // the change below reaches no one
  REQUIRE(change(cluster, 1, MembershipChangeType::add_learner, 4).ok());
  cluster.stabilize();
  CHECK(cluster.node(1).membership().learners == std::vector<NodeId>{4});
  const NodeId leader = run_until_leader(cluster);
  REQUIRE(leader != 1);
  REQUIRE(cluster.node(leader).propose("new term").ok());
  cluster.stabilize();
  cluster.heal(1);
  cluster.run(10);
  // Node 1's suffix was replaced: the membership falls back to the one before it.
  CHECK(cluster.node(1).leader() == leader);
  CHECK(cluster.node(1).membership().learners.empty());
  CHECK(cluster.node(1).membership().voters == std::vector<NodeId>{1, 2, 3});
  CHECK(cluster.node(1).membership_index() == 0);
}

TEST_CASE("scenario: a restarted server recovers the membership from its log",
          "[scenario][membership]") {
  Cluster cluster(3);
  cluster.elect(1);
  cluster.add_node(4);
  REQUIRE(change(cluster, 1, MembershipChangeType::add_learner, 4).ok());
  cluster.run(5);
  REQUIRE(change(cluster, 1, MembershipChangeType::promote, 4).ok());
  cluster.run(5);
  cluster.restart(4);  // started again with no initial membership: only its log says
  CHECK(cluster.node(4).membership().voters == std::vector<NodeId>{1, 2, 3, 4});
  CHECK(cluster.node(4).membership_index() > 0);
  cluster.restart(2);
  CHECK(cluster.node(2).membership().voters == std::vector<NodeId>{1, 2, 3, 4});
}


// ---- snapshots and log compaction (§7) --------------------------------------------------------

// Node 1 leads; node 3 is cut off while `entries` values ("v0", "v1", ...) are committed,
// then nodes 1 and 2 compact their logs through them: node 3 can only catch up by a snapshot.
// Node 3 stays isolated (the caller heals it).
void leave_node_3_behind_compaction(Cluster& cluster, int entries) {
  cluster.elect(1);
  cluster.isolate(3);
  for (int i = 0; i < entries; ++i) {
    REQUIRE(cluster.node(1).propose("v" + std::to_string(i)).ok());
  }
  cluster.stabilize();
  cluster.compact(1, static_cast<Index>(entries));
  cluster.compact(2, static_cast<Index>(entries));
}

TEST_CASE("scenario: a follower behind the compacted log gets a snapshot in chunks, without "
          "an election", "[scenario][snapshot]") {
  Cluster cluster(3, 1, [](Config& config) { config.snapshot_chunk_bytes = 64; });
  cluster.elect(1);
  cluster.isolate(3);
  for (int i = 0; i < 60; ++i) REQUIRE(cluster.node(1).propose("value-" + std::to_string(i)).ok());
  cluster.stabilize();
  const Term term = cluster.node(1).term();
  cluster.compact(1, 50);
  CHECK(cluster.node(1).log_start() == 50);
  cluster.compact(2, 55);
  cluster.heal(3);
  cluster.run(30);
  // Node 3 lacked entries 1..50, which no longer exist anywhere: it installed a snapshot.
  CHECK(cluster.snapshots_installed() == 1);
  CHECK(cluster.node(1).counters().snapshot_chunks_sent > 5);  // many 64-byte chunks
  CHECK(cluster.node(3).log_start() >= 50);
  CHECK(cluster.node(3).commit_index() == cluster.node(1).commit_index());
  CHECK(applied_data(cluster, 3) == applied_data(cluster, 1));
  // Chunks kept it from campaigning: same leader, same term.
  CHECK(cluster.node(1).role() == Role::leader);
  CHECK(cluster.node(3).term() == term);
  // And it replicates normally afterwards.
  REQUIRE(cluster.node(1).propose("after").ok());
  cluster.stabilize();
  CHECK(applied_data(cluster, 3).back() == "after");
}

TEST_CASE("scenario: lost snapshot chunks are resent from what the follower holds",
          "[scenario][snapshot]") {
  Cluster cluster(3, 2, [](Config& config) { config.snapshot_chunk_bytes = 32; });
  leave_node_3_behind_compaction(cluster, 40);
  // Every third chunk is lost on the way.
  int chunk = 0;
  cluster.drop = [&](const Message& m) {
    return m.type == MessageType::snapshot && ++chunk % 3 == 0;
  };
  cluster.heal(3);
  cluster.run(200);
  cluster.drop = nullptr;
  cluster.run(10);
  CHECK(cluster.snapshots_installed() == 1);
  CHECK(applied_data(cluster, 3) == applied_data(cluster, 1));
  CHECK(cluster.node(1).role() == Role::leader);
  CHECK(cluster.node(1).term() == cluster.node(3).term());
}

TEST_CASE("scenario: a follower restarted in the middle of a snapshot install starts it again "
          "and completes it", "[scenario][snapshot]") {
  Cluster cluster(3, 3, [](Config& config) { config.snapshot_chunk_bytes = 32; });
  leave_node_3_behind_compaction(cluster, 40);
  cluster.heal(3);
  // Deliver a few chunks only, then restart node 3 (its partial snapshot is in memory only).
  int delivered = 0;
  for (int tick = 0; tick < 20 && delivered < 3; ++tick) {
    cluster.tick_all();
    cluster.handle_all_ready();
    while (!cluster.network().empty() && delivered < 3) {
      Message m = cluster.network().front();
      cluster.network().pop_front();
      if (m.type == MessageType::snapshot) ++delivered;
      REQUIRE(cluster.deliver(m).ok());
      cluster.handle_all_ready();
    }
  }
  REQUIRE(delivered == 3);
  REQUIRE(cluster.snapshots_installed() == 0);
  cluster.restart(3);
  CHECK(cluster.node(3).last_index() < 40);  // what it had on disk: nothing of the snapshot
  cluster.run(50);
  CHECK(cluster.snapshots_installed() == 1);
  CHECK(applied_data(cluster, 3) == applied_data(cluster, 1));
  // Restarted again after the install, it starts from the snapshot on its disk.
  cluster.restart(3);
  CHECK(cluster.node(3).log_start() >= 40);
  REQUIRE(cluster.node(1).propose("after").ok());
  cluster.run(5);
  CHECK(applied_data(cluster, 3) == applied_data(cluster, 1));
}

TEST_CASE("scenario: a compacted leader's restart keeps its membership and log start",
          "[scenario][snapshot]") {
  Cluster cluster(3);
  cluster.elect(1);
  cluster.add_node(4);
  REQUIRE(cluster.node(1).change_membership({MembershipChangeType::add_learner, 4}).ok());
  cluster.run(5);
  for (int i = 0; i < 10; ++i) REQUIRE(cluster.node(1).propose("w").ok());
  cluster.stabilize();
  cluster.compact(1, cluster.node(1).applied_index());
  cluster.restart(1);
  CHECK(cluster.node(1).membership().learners == std::vector<NodeId>{4});
  CHECK(cluster.node(1).log_start() == cluster.node(1).last_index());
  const NodeId leader = run_until_leader(cluster);
  REQUIRE(cluster.node(leader).propose("after restart").ok());
  cluster.run(5);
  CHECK(applied_data(cluster, 1) == applied_data(cluster, 2));
  CHECK(applied_data(cluster, 4) == applied_data(cluster, 2));
}


TEST_CASE("scenario: a rejected append skips a whole conflicting term, not one entry per round "
          "trip", "[scenario][replication]") {
  // Node 3 holds 40 uncommitted entries of term 2 after a common prefix of 5; the leader's log
  // has 40 entries of term 3 there instead.
  std::vector<Term> common(5, 1);
  std::vector<Term> stale = common;
  stale.insert(stale.end(), 40, 2);
  std::vector<Term> fresh = common;
  fresh.insert(fresh.end(), 40, 3);
  Cluster cluster(3);
  cluster.load(1, store_with_terms(fresh, 3));
  cluster.load(2, store_with_terms(fresh, 3));
  cluster.load(3, store_with_terms(stale, 3));
  cluster.elect(1);
  cluster.run(3);
  size_t rejections = 0;
  for (const std::string& line : cluster.transcript()) {
    if (line.rfind("3: append_response", 0) == 0 && line.find(" reject") != std::string::npos) {
      ++rejections;
    }
  }
  INFO("rejections from node 3: " << rejections);
  // One rejection at the leader's last index; its hint (index 45, term 2) lets the leader skip
  // every entry of term 3 at once. One entry per round trip would take 40.
  CHECK(rejections <= 2);
  CHECK(cluster.log_of(3) == cluster.log_of(1));
}

}  // namespace
}  // namespace conclave::raft

namespace conclave::raft {
namespace {

TEST_CASE("scenario: gossip reporting the leader failed starts a pre-vote at once; it still "
          "needs a quorum", "[scenario][pre_vote]") {
  // Long election timeouts (as in the WAN profile), so that waiting them out is visible.
  Cluster cluster(3, 5, [](Config& config) { config.election_ticks = 100; });
  cluster.elect(1);
  cluster.run(5);
  const Term term = cluster.node(1).term();
  cluster.isolate(1);  // the leader dies
  // Right away, followers are still within their lease: a report to one of them starts a
  // pre-vote that the other refuses.
  cluster.node(2).leader_failed(1);
  cluster.stabilize();
  CHECK(cluster.node(2).term() == term);
  CHECK(cluster.node(2).counters().gossip_triggered_elections == 1);
  // Gossip takes longer than the lease (election_ticks) to declare a member dead; by then the
  // report to both elects a new leader at once, long before the randomized timeout
  // [100, 200) ticks would have.
  for (int i = 0; i < 100; ++i) {
    cluster.tick(2);
    cluster.tick(3);
    cluster.stabilize();
  }
  REQUIRE(cluster.leaders().empty());  // no timeout has fired yet (ticks 100+ from the reset)
  cluster.node(2).leader_failed(1);
  cluster.node(3).leader_failed(1);
  cluster.stabilize();
  std::vector<NodeId> leaders = cluster.leaders();
  REQUIRE(leaders.size() == 1);
  CHECK(leaders[0] != 1);
  CHECK(cluster.node(leaders[0]).term() == term + 1);
  // A report about a server that is not the leader changes nothing.
  const NodeId follower = leaders[0] == 2 ? 3 : 2;
  cluster.node(follower).leader_failed(1);
  cluster.stabilize();
  CHECK(cluster.node(leaders[0]).role() == Role::leader);
}

}  // namespace
}  // namespace conclave::raft

namespace conclave::raft {
namespace {

TEST_CASE("scenario: a follower's ReadIndex is confirmed by the leader's quorum round at the "
          "leader's commit index", "[scenario][read_index]") {
  Cluster cluster(3);
  cluster.elect(1);
  REQUIRE(cluster.node(1).propose("x").ok());
  cluster.stabilize();
  REQUIRE(cluster.node(2).read_index_from_leader(42).ok());
  cluster.stabilize();
  REQUIRE(cluster.read_states(2).size() == 1);
  CHECK(cluster.read_states(2)[0].context == 42);
  CHECK(cluster.read_states(2)[0].index == cluster.node(1).commit_index());
  CHECK(cluster.read_states(1).empty());  // the leader's own callers see nothing of it
  // No log entry for it.
  CHECK(cluster.node(1).last_index() == 2);

  // A leader cut off from its quorum never confirms it (no stale read through a follower).
  cluster.isolate(3);
  cluster.drop = [](const Message& m) {
    return m.type == MessageType::append_response && m.from == 2;  // 2's acks are lost
  };
  REQUIRE(cluster.node(2).read_index_from_leader(43).ok());
  cluster.stabilize();
  CHECK(cluster.read_states(2).size() == 1);
  cluster.drop = nullptr;
  cluster.heal_all();

  // Errors: the leader uses read_index; without a leader there is no one to ask.
  CHECK(cluster.node(1).read_index_from_leader(1).error().code == ErrorCode::not_leader);
  Cluster leaderless(3);
  CHECK(leaderless.node(2).read_index_from_leader(1).error().code == ErrorCode::no_leader);
}

}  // namespace
}  // namespace conclave::raft

namespace conclave::raft {
namespace {

// Delivers messages until `stop` holds for the one just delivered; ticks when none are left.
template <typename Stop>
void deliver_until(Cluster& cluster, Stop stop, int max_ticks = 50) {
  for (int tick = 0; tick < max_ticks; ++tick) {
    cluster.tick_all();
    cluster.handle_all_ready();
    while (!cluster.network().empty()) {
      Message m = cluster.network().front();
      cluster.network().pop_front();
      REQUIRE(cluster.deliver(m).ok());
      if (stop(m)) return;
      cluster.handle_all_ready();
    }
  }
  FAIL("the awaited message never came");
}

TEST_CASE("scenario: an installed snapshot is acknowledged only after it is persisted",
          "[scenario][snapshot][durability]") {
  Cluster cluster(3, 4, [](Config& config) { config.snapshot_chunk_bytes = 1 << 20; });
  leave_node_3_behind_compaction(cluster, 20);
  cluster.heal(3);
  // The single chunk reaches node 3, which installs it (not yet persisted: no Ready taken).
  deliver_until(cluster, [](const Message& m) { return m.type == MessageType::snapshot; });
  REQUIRE(cluster.node(3).has_ready());
  // Neither the install's acknowledgement nor that of a heartbeat at or below its index may
  // leave before the snapshot is on disk.
  for (const Message& m : cluster.node(3).take_messages_without_persist()) {
    CHECK_FALSE((m.type == MessageType::append_response && !m.reject));
  }
  Ready ready = cluster.node(3).ready();
  REQUIRE(ready.snapshot);
  bool acknowledged = false;
  for (const Message& m : ready.messages) {
    if (m.type == MessageType::append_response && !m.reject) acknowledged = true;
  }
  CHECK(acknowledged);  // in the Ready: sent once its snapshot is persisted
  cluster.node(3).advance(ready);
}

TEST_CASE("scenario: a member removed while it receives a snapshot does not upset the leader",
          "[scenario][snapshot][membership]") {
  Cluster cluster(3, 6, [](Config& config) { config.snapshot_chunk_bytes = 16; });
  cluster.elect(1);
  for (int i = 0; i < 20; ++i) REQUIRE(cluster.node(1).propose("value").ok());
  cluster.stabilize();
  cluster.compact(1, 20);
  cluster.add_node(4);
  REQUIRE(cluster.node(1).change_membership({MembershipChangeType::add_learner, 4}).ok());
  // Node 4 answers a first chunk; hold its answer back.
  std::vector<Message> held;
  cluster.drop = [&](const Message& m) {
    if (m.type == MessageType::snapshot_response && m.from == 4) {
      held.push_back(m);
      return true;
    }
    return false;
  };
  for (int i = 0; i < 20 && held.empty(); ++i) cluster.run(1);
  REQUIRE_FALSE(held.empty());
  cluster.drop = [](const Message& m) { return m.from == 4 || m.to == 4; };
  REQUIRE(cluster.node(1).change_membership({MembershipChangeType::remove, 4}).ok());
  cluster.stabilize();
  // The late answer arrives after the removal.
  for (const Message& m : held) CHECK(cluster.node(1).step(m).ok());
  cluster.drop = nullptr;
  cluster.run(5);
  CHECK(cluster.node(1).role() == Role::leader);
  CHECK_FALSE(cluster.node(1).membership().contains(4));
}

}  // namespace
}  // namespace conclave::raft

namespace conclave::raft {
namespace {

TEST_CASE("scenario: lease reads (off by default) are confirmed without a round while a quorum "
          "acknowledged a recent heartbeat, and stop before another leader can exist",
          "[scenario][read_index]") {
  // Election timeout 10 ticks here; a drift margin of 3 leaves a 7-tick lease per round.
  Cluster cluster(3, 8, [](Config& config) {
    config.lease_reads = true;
    config.lease_drift_margin_ticks = 3;
  });
  cluster.elect(1);
  cluster.run(5);  // heartbeat rounds acknowledged
  REQUIRE(cluster.node(1).read_index(7).ok());
  // Confirmed at once: no message needed.
  REQUIRE(cluster.node(1).has_ready());
  Ready ready = cluster.node(1).ready();
  bool round_sent = false;
  for (const Message& m : ready.messages) round_sent |= m.type == MessageType::append_request;
  REQUIRE(ready.read_states.size() == 1);
  CHECK(ready.read_states[0].context == 7);
  CHECK_FALSE(round_sent);
  cluster.node(1).advance(ready);
  CHECK(cluster.node(1).counters().lease_reads == 1);

  // Cut off: the lease runs out election_ticks - margin ticks after the last acknowledged
  // round was sent, before the others could elect anyone (they wait election_ticks).
  cluster.isolate(1);
  int ticks = 0;
  while (ticks < 20) {
    cluster.tick(1);
    cluster.handle_ready(1);
    ++ticks;
    REQUIRE(cluster.node(1).read_index(100 + ticks).ok());
    cluster.handle_ready(1);
    if (cluster.read_states(1).empty() ||
        cluster.read_states(1).back().context != 100 + static_cast<uint64_t>(ticks)) {
      break;  // not confirmed by the lease any more
    }
  }
  INFO("lease reads stopped after " << ticks << " ticks cut off");
  CHECK(ticks > 1);   // the lease held for a while after the last acknowledged round
  CHECK(ticks <= 7);  // and ran out within election_ticks - margin of its start
  // Followers could not have elected anyone before then: they refuse votes for 10 ticks.
  // A transfer in progress also suspends lease reads (its election ignores their leases).
  cluster.heal_all();
  cluster.run(5);
  REQUIRE(cluster.node(1).role() == Role::leader);
  REQUIRE(cluster.node(1).transfer_leadership(2).ok());
  const size_t before = cluster.read_states(1).size();
  REQUIRE(cluster.node(1).read_index(999).ok());
  cluster.handle_ready(1);
  CHECK(cluster.read_states(1).size() == before);
}

TEST_CASE("scenario: a clock jump (an event-loop stall) ends the lease until a fresh round",
          "[scenario][read_index]") {
  Cluster cluster(3, 9, [](Config& config) {
    config.lease_reads = true;
    config.lease_drift_margin_ticks = 3;
  });
  cluster.elect(1);
  cluster.run(5);
  cluster.node(1).clock_jumped();  // seconds passed that it counted as one tick
  REQUIRE(cluster.node(1).read_index(5).ok());
  cluster.handle_ready(1);
  CHECK(cluster.read_states(1).empty());  // waits for a round instead
  cluster.stabilize();
  REQUIRE(cluster.read_states(1).size() == 1);  // confirmed by that round
  cluster.run(3);
  REQUIRE(cluster.node(1).read_index(6).ok());
  cluster.handle_ready(1);
  CHECK(cluster.read_states(1).size() == 2);  // the lease is back
}

TEST_CASE("scenario: without the option every read needs a round (the default)",
          "[scenario][read_index]") {
  Cluster cluster(3);
  cluster.elect(1);
  cluster.run(5);
  REQUIRE(cluster.node(1).read_index(7).ok());
  Ready ready = cluster.node(1).ready();
  CHECK(ready.read_states.empty());
  cluster.node(1).advance(ready);
  CHECK(cluster.node(1).counters().lease_reads == 0);
}

}  // namespace
}  // namespace conclave::raft
