// RawNode tests that drive one node by hand: each input is a message or call, each expectation
// an exact Ready or state.
#include <catch2/catch.hpp>

#include <set>

#include "raft/raw_node.h"
#include "tests/raft/cluster.h"

namespace conclave::raft {
namespace {

using testing::test_config;

Recovered empty_recovered() { return Recovered{}; }

Recovered recovered_log(std::vector<Term> terms, HardState hard_state, Index applied = 0) {
  Recovered recovered;
  recovered.hard_state = hard_state;
  for (size_t i = 0; i < terms.size(); ++i) {
    recovered.entries.push_back(Entry{terms[i], i + 1, "r" + std::to_string(i + 1)});
  }
  recovered.applied = applied;
  return recovered;
}

Message make(MessageType type, NodeId from, NodeId to, Term term) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  return m;
}

Message vote_request(NodeId from, NodeId to, Term term, Index last_index, Term last_term) {
  Message m = make(MessageType::vote_request, from, to, term);
  m.log_index = last_index;
  m.log_term = last_term;
  return m;
}

Message append_request(NodeId from, NodeId to, Term term, Index prev_index, Term prev_term,
                       std::vector<Entry> entries, Index commit) {
  Message m = make(MessageType::append_request, from, to, term);
  m.log_index = prev_index;
  m.log_term = prev_term;
  m.entries = std::move(entries);
  m.commit = commit;
  return m;
}

// Takes a Ready and advances it at once (the caller "persisted, sent and applied" it).
Ready drain(RawNode& node) {
  Ready ready = node.ready();
  node.advance(ready);
  return ready;
}

// Node 1 of {1, 2, 3}, made leader of term 1 by a vote from node 2; its first Ready drained.
std::unique_ptr<RawNode> make_leader(Config config) {
  auto node = std::make_unique<RawNode>(config, empty_recovered());
  node->campaign();
  drain(*node);
  Message granted = make(MessageType::vote_response, 2, 1, 1);
  REQUIRE(node->step(granted).ok());
  REQUIRE(node->role() == Role::leader);
  return node;
}

TEST_CASE("election timeout is drawn in [election_ticks, 2 * election_ticks) at every reset",
          "[raw_node][election]") {
  std::set<int> first_timeouts;
  std::set<int> candidate_timeouts;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    Config config = test_config(1, {1, 2, 3}, seed);
    config.election_ticks = 10;
    config.pre_vote = false;  // the timeout itself, measured by the term it starts
    RawNode node(config, empty_recovered());
    int ticks = 0;
    while (node.role() == Role::follower) {
      node.tick();
      ++ticks;
      REQUIRE(ticks < 100);
    }
    CHECK(ticks >= 10);
    CHECK(ticks < 20);
    first_timeouts.insert(ticks);
    CHECK(node.term() == 1);
    // A candidate that hears nothing campaigns again after a freshly drawn timeout.
    ticks = 0;
    while (node.term() == 1) {
      node.tick();
      ++ticks;
      REQUIRE(ticks < 100);
    }
    CHECK(ticks >= 10);
    CHECK(ticks < 20);
    candidate_timeouts.insert(ticks);
  }
  // Randomized, not constant: over 200 seeds most of the 10 values show up.
  CHECK(first_timeouts.size() >= 8);
  CHECK(candidate_timeouts.size() >= 8);
}

TEST_CASE("a single-voter group becomes leader on campaign and commits a proposal",
          "[raw_node][single]") {
  RawNode node(test_config(1, {1}, 1), empty_recovered());
  node.campaign();
  CHECK(node.role() == Role::leader);
  CHECK(node.term() == 1);
  CHECK(node.leader() == 1);

  Ready first = node.ready();
  REQUIRE(first.hard_state);
  CHECK(*first.hard_state == HardState{1, 1, 0});
  REQUIRE(first.entries.size() == 1);
  CHECK(first.entries[0] == Entry{1, 1, ""});  // the new leader's no-op
  CHECK(first.messages.empty());
  CHECK(first.committed_entries.empty());  // not persisted yet, so not committed
  REQUIRE(first.soft_state);
  CHECK(*first.soft_state == SoftState{1, Role::leader});
  node.advance(first);
  CHECK(node.commit_index() == 1);  // its own persisted copy is a quorum of one

  Result<Index> proposed = node.propose("set x=1");
  REQUIRE(proposed.ok());
  CHECK(proposed.value() == 2);

  Ready second = node.ready();
  REQUIRE(second.hard_state);
  CHECK(second.hard_state->commit == 1);
  REQUIRE(second.entries.size() == 1);
  CHECK(second.entries[0] == Entry{1, 2, "set x=1"});
  REQUIRE(second.committed_entries.size() == 1);
  CHECK(second.committed_entries[0].index == 1);
  node.advance(second);
  CHECK(node.applied_index() == 1);
  CHECK(node.commit_index() == 2);

  Ready third = drain(node);
  REQUIRE(third.committed_entries.size() == 1);
  CHECK(third.committed_entries[0] == Entry{1, 2, "set x=1"});
  CHECK(node.applied_index() == 2);
  CHECK_FALSE(node.has_ready());
}

TEST_CASE("a single-voter group also elects itself on election timeout", "[raw_node][single]") {
  RawNode node(test_config(1, {1}, 7), empty_recovered());
  for (int i = 0; i < 20 && node.role() != Role::leader; ++i) node.tick();
  CHECK(node.role() == Role::leader);
  CHECK(node.term() == 1);
}

TEST_CASE("propose: errors and forwarding", "[raw_node][propose]") {
  SECTION("a follower without a leader answers no_leader") {
    RawNode node(test_config(1, {1, 2, 3}, 1), empty_recovered());
    Result<Index> result = node.propose("x");
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::no_leader);
    CHECK(result.error().message.find("election") != std::string::npos);
    CHECK(result.error().message.find("quorum") != std::string::npos);
  }
  SECTION("a candidate answers no_leader") {
    RawNode node(test_config(1, {1, 2, 3}, 1), empty_recovered());
    node.campaign();
    Result<Index> result = node.propose("x");
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::no_leader);
  }
  SECTION("empty data is reserved for no-ops") {
    RawNode node(test_config(1, {1}, 1), empty_recovered());
    node.campaign();
    Result<Index> result = node.propose("");
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::invalid_argument);
    CHECK(node.last_index() == 1);
  }
  SECTION("a follower with a known leader forwards the data") {
    RawNode node(test_config(1, {1, 2, 3}, 1), empty_recovered());
    REQUIRE(node.step(append_request(2, 1, 1, 0, 0, {}, 0)).ok());
    CHECK(node.leader() == 2);
    drain(node);
    Result<Index> result = node.propose("hello");
    REQUIRE(result.ok());
    CHECK(result.value() == 0);
    Ready ready = drain(node);
    REQUIRE(ready.messages.size() == 1);
    const Message& forward = ready.messages[0];
    CHECK(forward.type == MessageType::propose);
    CHECK(forward.to == 2);
    CHECK(forward.from == 1);
    CHECK(forward.term == 1);
    REQUIRE(forward.entries.size() == 1);
    CHECK(forward.entries[0].data == "hello");
    CHECK(node.last_index() == 0);  // a follower appends nothing itself
  }
  SECTION("the leader refuses proposals beyond max_uncommitted_entries") {
    Config config = test_config(1, {1, 2, 3}, 1);
    config.max_uncommitted_entries = 3;
    auto leader = make_leader(config);
    CHECK(leader->last_index() == 1);  // the no-op, uncommitted
    REQUIRE(leader->propose("a").ok());
    REQUIRE(leader->propose("b").ok());
    Result<Index> refused = leader->propose("c");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == ErrorCode::unavailable);
    CHECK(leader->last_index() == 3);
  }
  SECTION("proposals over max_bytes_per_append are too_large") {
    Config config = test_config(1, {1}, 1);
    config.max_bytes_per_append = 8;
    RawNode node(config, empty_recovered());
    node.campaign();
    Result<Index> result = node.propose("123456789");
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == ErrorCode::too_large);
  }
}

TEST_CASE("votes: at most one per term, persisted before the answer leaves",
          "[raw_node][vote]") {
  RawNode node(test_config(1, {1, 2, 3}, 1), empty_recovered());
  REQUIRE(node.step(vote_request(2, 1, 1, 0, 0)).ok());
  Ready ready = drain(node);
  // Durability order: the grant travels in the same Ready as the hard state holding the vote.
  REQUIRE(ready.hard_state);
  CHECK(*ready.hard_state == HardState{1, 2, 0});
  REQUIRE(ready.messages.size() == 1);
  CHECK(ready.messages[0].type == MessageType::vote_response);
  CHECK(ready.messages[0].to == 2);
  CHECK(ready.messages[0].term == 1);
  CHECK_FALSE(ready.messages[0].reject);

  // Another candidate in the same term is refused.
  REQUIRE(node.step(vote_request(3, 1, 1, 0, 0)).ok());
  ready = drain(node);
  CHECK_FALSE(ready.hard_state);
  REQUIRE(ready.messages.size() == 1);
  CHECK(ready.messages[0].to == 3);
  CHECK(ready.messages[0].reject);

  // A duplicated request from the candidate we voted for is granted again.
  REQUIRE(node.step(vote_request(2, 1, 1, 0, 0)).ok());
  ready = drain(node);
  REQUIRE(ready.messages.size() == 1);
  CHECK_FALSE(ready.messages[0].reject);

  // A higher term clears the vote.
  REQUIRE(node.step(vote_request(3, 1, 2, 0, 0)).ok());
  ready = drain(node);
  REQUIRE(ready.hard_state);
  CHECK(*ready.hard_state == HardState{2, 3, 0});
  CHECK_FALSE(ready.messages[0].reject);
}

TEST_CASE("votes: only for a candidate whose log is at least as up-to-date (§5.4.1)",
          "[raw_node][vote]") {
  struct Row {
    Index candidate_last_index;
    Term candidate_last_term;
    bool granted;
  };
  // Voter's log: terms {1, 2, 2}: last index 3, last term 2.
  const std::vector<Row> table = {
      {3, 2, true},    // same
      {4, 2, true},    // longer, same last term
      {2, 2, false},   // shorter, same last term
      {9, 1, false},   // longer but older last term
      {1, 3, true},    // shorter but newer last term
  };
  for (const Row& row : table) {
    INFO("candidate last (" << row.candidate_last_index << ", " << row.candidate_last_term
                            << ")");
    RawNode node(test_config(1, {1, 2, 3}, 1), recovered_log({1, 2, 2}, HardState{2, 0, 0}));
    REQUIRE(node.step(vote_request(2, 1, 3, row.candidate_last_index,
                                   row.candidate_last_term))
                .ok());
    CHECK(node.term() == 3);  // the higher term is adopted either way
    Ready ready = drain(node);
    REQUIRE(ready.hard_state);
    CHECK(ready.hard_state->vote == (row.granted ? 2u : 0u));
    REQUIRE(ready.messages.size() == 1);
    CHECK(ready.messages[0].reject == !row.granted);
  }
}

TEST_CASE("campaign: the candidate asks every peer with its last log index and term",
          "[raw_node][election]") {
  RawNode node(test_config(1, {1, 2, 3}, 1), recovered_log({1, 1, 2}, HardState{2, 0, 3}, 3));
  node.campaign();
  CHECK(node.role() == Role::candidate);
  CHECK(node.term() == 3);
  Ready ready = drain(node);
  REQUIRE(ready.hard_state);
  CHECK(*ready.hard_state == HardState{3, 1, 3});
  REQUIRE(ready.messages.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(ready.messages[i].type == MessageType::vote_request);
    CHECK(ready.messages[i].to == 2 + i);
    CHECK(ready.messages[i].log_index == 3);
    CHECK(ready.messages[i].log_term == 2);
  }
  // A majority of rejections ends the candidacy in this term.
  Message no = make(MessageType::vote_response, 2, 1, 3);
  no.reject = true;
  REQUIRE(node.step(no).ok());
  CHECK(node.role() == Role::candidate);
  no.from = 3;
  REQUIRE(node.step(no).ok());
  CHECK(node.role() == Role::follower);
  CHECK(node.term() == 3);
}

TEST_CASE("a new leader appends a no-op and sends it to every follower", "[raw_node][leader]") {
  auto leader = make_leader(test_config(1, {1, 2, 3}, 1));
  CHECK(leader->last_index() == 1);
  CHECK(leader->entry_at(1) == Entry{1, 1, ""});
  Ready ready = drain(*leader);
  REQUIRE(ready.soft_state);
  CHECK(*ready.soft_state == SoftState{1, Role::leader});
  REQUIRE(ready.messages.size() == 2);
  for (const Message& m : ready.messages) {
    CHECK(m.type == MessageType::append_request);
    CHECK(m.log_index == 0);
    CHECK(m.log_term == 0);
    REQUIRE(m.entries.size() == 1);
    CHECK(m.entries[0] == Entry{1, 1, ""});
  }
}

TEST_CASE("the leader counts its own entry toward a quorum only once persisted",
          "[raw_node][commit]") {
  auto leader = make_leader(test_config(1, {1, 2, 3}, 1));
  drain(*leader);  // the no-op is persisted
  Message ack = make(MessageType::append_response, 2, 1, 1);
  ack.log_index = 1;
  REQUIRE(leader->step(ack).ok());
  CHECK(leader->commit_index() == 1);

  REQUIRE(leader->propose("x").ok());
  // Follower 2 acknowledges index 2 before the leader's own Ready with it was handled: one
  // durable copy out of three is not a quorum.
  ack.log_index = 2;
  REQUIRE(leader->step(ack).ok());
  CHECK(leader->commit_index() == 1);
  Ready ready = leader->ready();
  REQUIRE(ready.entries.size() == 1);
  CHECK(ready.entries[0].index == 2);
  CHECK(leader->commit_index() == 1);
  leader->advance(ready);
  CHECK(leader->commit_index() == 2);
  // The new commit index goes out to the follower that holds the entry.
  Ready next = drain(*leader);
  bool told_follower = false;
  for (const Message& m : next.messages) {
    if (m.to == 2 && m.type == MessageType::append_request && m.commit == 2) told_follower = true;
  }
  CHECK(told_follower);
  REQUIRE(next.committed_entries.size() == 1);  // the no-op went with the previous Ready
  CHECK(next.committed_entries[0] == Entry{1, 2, "x"});
}

TEST_CASE("higher term forces a leader to step down", "[raw_node][term]") {
  auto leader = make_leader(test_config(1, {1, 2, 3}, 1));
  drain(*leader);
  Message response = make(MessageType::append_response, 3, 1, 5);
  response.reject = true;
  REQUIRE(leader->step(response).ok());
  CHECK(leader->role() == Role::follower);
  CHECK(leader->term() == 5);
  CHECK(leader->leader() == kNoNode);
  Ready ready = drain(*leader);
  REQUIRE(ready.hard_state);
  CHECK(*ready.hard_state == HardState{5, 0, 0});
  REQUIRE(ready.soft_state);
  CHECK(*ready.soft_state == SoftState{kNoNode, Role::follower});
  Result<Index> result = leader->propose("x");
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::no_leader);
}

TEST_CASE("stale-term messages change nothing; a stale leader is told the term", "[raw_node][term]") {
  RawNode node(test_config(1, {1, 2, 3}, 1), recovered_log({1, 2}, HardState{3, 0, 0}));
  CHECK(node.step(append_request(2, 1, 2, 2, 2, {Entry{2, 3, "old"}}, 2)).ok());
  CHECK(node.step(vote_request(2, 1, 1, 9, 1)).ok());
  CHECK(node.term() == 3);
  CHECK(node.last_index() == 2);
  CHECK(node.commit_index() == 0);
  // The old leader gets a refusal in our term, so it steps down (a leader cut off from its
  // quorum would otherwise keep sending); the stale vote request gets nothing.
  REQUIRE(node.has_ready());
  Ready ready = node.ready();
  CHECK_FALSE(ready.hard_state);
  CHECK(ready.entries.empty());
  REQUIRE(ready.messages.size() == 1);
  CHECK(ready.messages[0].type == MessageType::append_response);
  CHECK(ready.messages[0].to == 2);
  CHECK(ready.messages[0].term == 3);
  CHECK(ready.messages[0].reject);
}

TEST_CASE("follower append: prev checks, conflict truncation, commit bound", "[raw_node][append]") {
  // Follower log terms {1, 1, 2, 2} in term 3, nothing committed.
  auto follower = [] {
    auto node = std::make_unique<RawNode>(test_config(1, {1, 2, 3}, 1),
                                          recovered_log({1, 1, 2, 2}, HardState{3, 0, 0}));
    return node;
  };
  SECTION("missing prev entry: reject with the last index as hint") {
    auto node = follower();
    REQUIRE(node->step(append_request(2, 1, 3, 6, 3, {}, 0)).ok());
    Ready ready = drain(*node);
    REQUIRE(ready.messages.size() == 1);
    CHECK(ready.messages[0].type == MessageType::append_response);
    CHECK(ready.messages[0].reject);
    CHECK(ready.messages[0].log_index == 6);
    CHECK(ready.messages[0].reject_hint == 4);
    CHECK(node->leader() == 2);
  }
  SECTION("prev term mismatch: reject, hinting the last index whose term could match") {
    auto node = follower();
    REQUIRE(node->step(append_request(2, 1, 3, 3, 3, {}, 0)).ok());
    Ready ready = drain(*node);
    REQUIRE(ready.messages.size() == 1);
    CHECK(ready.messages[0].reject);
    CHECK(ready.messages[0].log_index == 3);
    CHECK(ready.messages[0].reject_hint == 3);  // term 2 <= the leader's 3 there
    CHECK(ready.messages[0].log_term == 2);
    CHECK(node->last_index() == 4);
  }
  SECTION("conflicting suffix is replaced and handed out again") {
    auto node = follower();
    REQUIRE(node->step(append_request(2, 1, 3, 2, 1, {Entry{3, 3, "new"}}, 9)).ok());
    CHECK(node->last_index() == 3);
    CHECK(node->entry_at(3) == Entry{3, 3, "new"});
    // Commit is bounded by the last entry this message covers, not the leader's 9.
    CHECK(node->commit_index() == 3);
    Ready ready = drain(*node);
    REQUIRE(ready.entries.size() == 1);
    CHECK(ready.entries[0] == Entry{3, 3, "new"});
    REQUIRE(ready.hard_state);
    CHECK(ready.hard_state->commit == 3);
    REQUIRE(ready.messages.size() == 1);
    CHECK_FALSE(ready.messages[0].reject);
    CHECK(ready.messages[0].log_index == 3);
    REQUIRE(ready.committed_entries.size() == 3);
    CHECK(ready.committed_entries[2] == Entry{3, 3, "new"});
  }
  SECTION("a heartbeat commits only up to its prev index, never into a stale suffix") {
    auto node = follower();
    REQUIRE(node->step(append_request(2, 1, 3, 2, 1, {}, 4)).ok());
    CHECK(node->commit_index() == 2);
    CHECK(node->last_index() == 4);  // entries past prev are kept until they conflict
    Ready ready = drain(*node);
    CHECK(ready.messages[0].log_index == 2);
  }
  SECTION("entries already held are not rewritten") {
    auto node = follower();
    REQUIRE(node->step(append_request(2, 1, 3, 0, 0, {Entry{1, 1, "r1"}, Entry{1, 2, "r2"}}, 0))
                .ok());
    CHECK(node->last_index() == 4);
    Ready ready = drain(*node);
    CHECK(ready.entries.empty());
    CHECK(ready.messages[0].log_index == 2);
  }
}

TEST_CASE("invalid messages are rejected without any state change", "[raw_node][validate]") {
  struct Row {
    const char* name;
    Message message;
  };
  std::vector<Row> table;
  table.push_back({"addressed to another node", vote_request(2, 3, 5, 0, 0)});
  table.push_back({"from itself", vote_request(1, 1, 5, 0, 0)});
  table.push_back({"from node 0", vote_request(0, 1, 5, 0, 0)});
  {
    Message m = make(MessageType::append_request, 2, 1, 5);
    m.log_index = 2;
    m.log_term = 1;
    Entry entry{5, 3, ""};
    entry.type = EntryType::membership;  // no voters
    m.entries.push_back(entry);
    table.push_back({"membership entry without voters", m});
  }
  {
    Message m = make(MessageType::append_request, 2, 1, 5);
    m.log_index = 2;
    m.log_term = 1;
    Entry entry{5, 3, ""};
    entry.type = EntryType::membership;
    entry.membership.voters = {3, 1};  // not sorted
    m.entries.push_back(entry);
    table.push_back({"membership entry with unsorted voters", m});
  }
  {
    Message m = make(MessageType::append_request, 2, 1, 5);
    m.log_index = 2;
    m.log_term = 1;
    Entry entry{5, 3, ""};
    entry.type = EntryType::membership;
    entry.membership.voters = {1, 2};
    entry.membership.learners = {2};  // in both
    m.entries.push_back(entry);
    table.push_back({"membership entry listing a node twice", m});
  }
  table.push_back({"from node 0", vote_request(0, 1, 5, 0, 0)});
  table.push_back({"term 0", vote_request(2, 1, 0, 0, 0)});
  table.push_back({"gap in entry indexes",
                   append_request(2, 1, 5, 2, 1, {Entry{5, 4, "x"}}, 0)});
  table.push_back({"entry indexes not consecutive",
                   append_request(2, 1, 5, 2, 1, {Entry{5, 3, "x"}, Entry{5, 5, "y"}}, 0)});
  table.push_back({"entry term above the message term",
                   append_request(2, 1, 5, 2, 1, {Entry{6, 3, "x"}}, 0)});
  table.push_back({"decreasing entry terms",
                   append_request(2, 1, 5, 2, 1, {Entry{4, 3, "x"}, Entry{3, 4, "y"}}, 0)});
  table.push_back({"entry term below the prev term",
                   append_request(2, 1, 5, 2, 4, {Entry{3, 3, "x"}}, 0)});
  table.push_back({"prev term above the message term", append_request(2, 1, 5, 2, 6, {}, 0)});
  table.push_back({"prev index 0 with a term", append_request(2, 1, 5, 0, 1, {}, 0)});
  {
    std::vector<Entry> too_many;
    for (Index i = 3; i < 3 + 65; ++i) too_many.push_back(Entry{5, i, "x"});
    table.push_back({"more entries than max_entries_per_append",
                     append_request(2, 1, 5, 2, 1, too_many, 0)});
  }
  {
    Message m = vote_request(2, 1, 5, 0, 0);
    m.entries.push_back(Entry{5, 1, "x"});
    table.push_back({"vote_request with entries", m});
  }
  {
    Message m = make(MessageType::propose, 2, 1, 5);
    m.entries.push_back(Entry{0, 0, ""});
    table.push_back({"propose with empty data", m});
  }
  table.push_back({"propose without entries", make(MessageType::propose, 2, 1, 5)});
  table.push_back({"unknown type", make(static_cast<MessageType>(12), 2, 1, 5)});

  for (const Row& row : table) {
    INFO(row.name);
    RawNode node(test_config(1, {1, 2, 3}, 1), recovered_log({1, 1}, HardState{1, 0, 1}));
    Status status = node.step(row.message);
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().code == ErrorCode::invalid_argument);
    CHECK_FALSE(status.error().message.empty());
    CHECK(node.term() == 1);
    CHECK(node.last_index() == 2);
    CHECK(node.leader() == kNoNode);
    CHECK(node.commit_index() == 1);
    // Only the replay of the recovered committed entry is pending: no messages, no hard state.
    Ready ready = node.ready();
    CHECK_FALSE(ready.hard_state);
    CHECK(ready.messages.empty());
    CHECK(ready.entries.empty());
  }

  SECTION("a leader refuses an acknowledgement past its last index") {
    auto leader = make_leader(test_config(1, {1, 2, 3}, 1));
    drain(*leader);
    Message ack = make(MessageType::append_response, 2, 1, 1);
    ack.log_index = 7;
    Status status = leader->step(ack);
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().code == ErrorCode::invalid_argument);
    CHECK(leader->commit_index() == 0);
    CHECK_FALSE(leader->has_ready());
  }
}

TEST_CASE("recovery: committed entries after applied are handed out again", "[raw_node][recovery]") {
  RawNode node(test_config(1, {1, 2, 3}, 1),
               recovered_log({1, 1, 2, 2, 2}, HardState{2, 3, 4}, /*applied=*/1));
  CHECK(node.term() == 2);
  CHECK(node.commit_index() == 4);
  CHECK(node.applied_index() == 1);
  CHECK(node.last_index() == 5);
  CHECK(node.role() == Role::follower);
  REQUIRE(node.has_ready());
  Ready ready = drain(node);
  CHECK_FALSE(ready.hard_state);  // unchanged since it was recovered
  CHECK(ready.entries.empty());   // recovered entries are already stable
  CHECK(ready.messages.empty());
  REQUIRE(ready.committed_entries.size() == 3);
  CHECK(ready.committed_entries[0] == Entry{1, 2, "r2"});
  CHECK(ready.committed_entries[2] == Entry{2, 4, "r4"});
  CHECK(node.applied_index() == 4);
  CHECK_FALSE(node.has_ready());
  // The recovered vote still binds: another candidate of term 2 is refused.
  REQUIRE(node.step(vote_request(2, 1, 2, 9, 2)).ok());
  CHECK(drain(node).messages[0].reject);
}

TEST_CASE("committed entries per Ready are bounded in bytes", "[raw_node][ready]") {
  std::vector<Term> terms(6, 1);
  Recovered recovered = recovered_log(terms, HardState{1, 0, 6});
  for (Entry& e : recovered.entries) e.data = std::string(1536 * 1024, 'x');  // 1.5 MiB each
  RawNode node(test_config(1, {1, 2, 3}, 1), recovered);
  Ready first = drain(node);
  CHECK(first.committed_entries.size() == 2);  // 3 MiB; a third would pass 4 MiB
  Ready second = drain(node);
  CHECK(second.committed_entries.size() == 2);
  CHECK(second.committed_entries[0].index == 3);
  Ready third = drain(node);
  CHECK(third.committed_entries.size() == 2);
  CHECK(node.applied_index() == 6);
}

TEST_CASE("truncation while a Ready is in flight re-hands the replaced entries",
          "[raw_node][ready]") {
  RawNode node(test_config(1, {1, 2, 3}, 1), empty_recovered());
  REQUIRE(node.step(append_request(2, 1, 1, 0, 0,
                                   {Entry{1, 1, "a"}, Entry{1, 2, "b"}, Entry{1, 3, "c"}}, 1))
              .ok());
  Ready in_flight = node.ready();
  REQUIRE(in_flight.entries.size() == 3);

  // Before the caller advances, the leader of term 2 overwrites index 2 onwards.
  REQUIRE(node.step(append_request(3, 1, 2, 1, 1, {Entry{2, 2, "B"}}, 1)).ok());
  CHECK(node.last_index() == 2);
  CHECK(node.entry_at(2) == Entry{2, 2, "B"});
  node.advance(in_flight);

  Ready next = drain(node);
  REQUIRE(next.entries.size() == 1);
  CHECK(next.entries[0] == Entry{2, 2, "B"});  // store/ overwrites index 2 and drops 3
  REQUIRE(next.hard_state);
  CHECK(*next.hard_state == HardState{2, 0, 1});
  // The acknowledgement to the new leader travels with the entry it acknowledges.
  REQUIRE(next.messages.size() == 1);
  CHECK(next.messages[0].to == 3);
  CHECK(next.messages[0].log_index == 2);
  CHECK_FALSE(node.has_ready());
}

}  // namespace
}  // namespace conclave::raft

namespace conclave::raft {
namespace {

TEST_CASE("a follower told it acknowledged entries it does not hold stops with a storage error",
          "[raw_node][damage]") {
  // Node 2 holds entries 1..2 of term 1; the leader (node 1, term 1) says 2 acknowledged
  // through index 5: the follower's disk lost entries it acknowledged.
  RawNode node(test_config(2, {1, 2, 3}, 1), recovered_log({1, 1}, HardState{1, 0, 0}));
  Message heartbeat = append_request(1, 2, 1, 2, 1, {}, 0);
  heartbeat.acknowledged_index = 5;
  Status status = node.step(heartbeat);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == ErrorCode::storage);
  CHECK_THAT(status.error().message, Catch::Contains("acknowledged entries through index 5"));
  CHECK(node.ready().messages.empty());  // nothing answered on the strength of the damaged log

  // Within what it holds, the same claim is fine.
  RawNode healthy(test_config(2, {1, 2, 3}, 1), recovered_log({1, 1}, HardState{1, 0, 0}));
  heartbeat.acknowledged_index = 2;
  CHECK(healthy.step(heartbeat).ok());
}

TEST_CASE("a leader asking to overwrite a committed entry is a storage error, not an abort",
          "[raw_node][damage]") {
  RawNode node(test_config(2, {1, 2, 3}, 1), recovered_log({1, 1, 1}, HardState{2, 0, 2}));
  // A leader of term 2 whose log has a term-2 entry at index 2, below this node's commit.
  Status status = node.step(append_request(1, 2, 2, 1, 1, {Entry{2, 2, "x"}}, 0));
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == ErrorCode::storage);
  CHECK_THAT(status.error().message, Catch::Contains("conflicts with this server's committed"));
  CHECK(node.entry_at(2).term == 1);  // nothing overwritten
}

TEST_CASE("the leader tells each follower what it acknowledged", "[raw_node][damage]") {
  auto leader = make_leader(test_config(1, {1, 2, 3}, 1));
  drain(*leader);
  Message ack = make(MessageType::append_response, 2, 1, 1);
  ack.log_index = 1;  // follower 2 matches the no-op
  REQUIRE(leader->step(ack).ok());
  for (int tick = 0; tick < 5; ++tick) leader->tick();
  Ready ready = drain(*leader);
  bool seen = false;
  for (const Message& message : ready.messages) {
    if (message.to == 2 && message.type == MessageType::append_request) {
      CHECK(message.acknowledged_index == 1);
      seen = true;
    }
  }
  CHECK(seen);
}

}  // namespace
}  // namespace conclave::raft

namespace conclave::raft {
namespace {

TEST_CASE("messages that promise nothing unpersisted do not wait behind an fsync in flight",
          "[raw_node][durability]") {
  // Follower 1 with entries {1, 1} persisted, in term 2 under leader 2.
  RawNode node(test_config(1, {1, 2, 3}, 1), recovered_log({1, 1}, HardState{2, 0, 2}, 2));
  REQUIRE(node.step(append_request(2, 1, 2, 2, 1, {}, 2)).ok());
  drain(node);
  // New entries arrive: their Ready (entries + acknowledgement) is handed out and is being
  // persisted (not advanced).
  REQUIRE(node.step(append_request(2, 1, 2, 2, 1, {Entry{2, 3, "x"}}, 2)).ok());
  Ready in_flight = node.ready();
  REQUIRE(in_flight.entries.size() == 1);
  // The acknowledgement of entry 3 waits for that fsync: it is not offered early.
  CHECK(node.take_messages_without_persist().empty());
  // Meanwhile a heartbeat at the persisted index 2, and a vote request it must refuse.
  REQUIRE(node.step(append_request(2, 1, 2, 2, 1, {}, 2)).ok());
  REQUIRE(node.step(vote_request(3, 1, 2, 9, 1)).ok());  // same term, vote taken by no one
  std::vector<Message> early = node.take_messages_without_persist();
  REQUIRE(early.size() == 2);
  CHECK(early[0].type == MessageType::append_response);
  CHECK_FALSE(early[0].reject);
  CHECK(early[0].log_index == 2);  // durable already
  CHECK(early[1].type == MessageType::vote_response);
  CHECK(early[1].reject);  // a leader of this term is known
  node.advance(in_flight);
  // What was not taken early comes out in the next Ready as usual.
  REQUIRE(node.step(append_request(2, 1, 2, 3, 2, {}, 3)).ok());
  Ready next = node.ready();
  REQUIRE(next.messages.size() == 1);
  CHECK(next.messages[0].log_index == 3);
  node.advance(next);
}

}  // namespace
}  // namespace conclave::raft
