// A tiny in-test harness for scenario tests: N RawNodes, a "network" of in-flight messages that
// tests deliver or drop, and a caller role that follows the Ready order exactly (persist into a
// simulated store, check that every outgoing message is backed by what was persisted, send,
// apply, advance).
//
// Checks made on every Ready (they fail the running test):
// - a granted vote leaves only after the hard state recording it was persisted;
// - an append acknowledgement leaves only after the entries it acknowledges were persisted;
// - committed entries are handed out in index order, after being persisted, and every node's
//   applied sequence agrees with every other's (State Machine Safety, Raft §5.4.3).
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "raft/raw_node.h"

namespace conclave::raft::testing {

// What store/ would hold for one node.
struct SimulatedStore {
  HardState hard_state;
  std::vector<Entry> entries;  // entries[i] holds index start.index + i + 1
  Index applied = 0;
  LogStart start;              // compacted through here (or a snapshot installed)
};

// The harness's "state machine" is the list of applied entries; a snapshot of it is one line
// per entry, "term data".
inline std::string encode_applied(const std::vector<Entry>& applied) {
  std::string out;
  for (const Entry& e : applied) out += std::to_string(e.term) + " " + e.data + "\n";
  return out;
}
inline std::vector<Entry> decode_applied(const std::string& text) {
  std::vector<Entry> out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t space = text.find(' ', at);
    const size_t end = text.find('\n', space);
    out.push_back(Entry{std::stoull(text.substr(at, space - at)), out.size() + 1,
                        text.substr(space + 1, end - space - 1)});
    at = end + 1;
  }
  return out;
}

inline Config test_config(NodeId id, std::vector<NodeId> voters, uint64_t seed) {
  Config config;
  config.id = id;
  config.voters = std::move(voters);
  config.heartbeat_ticks = 2;
  config.election_ticks = 10;
  config.random_seed = seed * 1000 + id;
  return config;
}

inline std::string describe(const Message& m) {
  std::string out = std::string(message_type_name(m.type)) + " " + std::to_string(m.from) +
                    "->" + std::to_string(m.to) + " t" + std::to_string(m.term) + " i" +
                    std::to_string(m.log_index) + " lt" + std::to_string(m.log_term) + " c" +
                    std::to_string(m.commit) + (m.reject ? " reject" : "") + " h" +
                    std::to_string(m.reject_hint) + " [";
  for (const Entry& e : m.entries) {
    out += std::to_string(e.index) + "@" + std::to_string(e.term) + ":" + e.data + " ";
  }
  return out + "]";
}

class Cluster {
 public:
  using ConfigTweak = std::function<void(Config&)>;

  explicit Cluster(size_t size, uint64_t seed = 1, ConfigTweak tweak = {})
      : seed_(seed), tweak_(std::move(tweak)) {
    for (NodeId id = 1; id <= size; ++id) voters_.push_back(id);
    for (NodeId id : voters_) {
      stores_[id] = SimulatedStore{};
      all_.push_back(id);
      start(id);
    }
  }

  // Starts a new server `id` that is in no membership yet (as a server joining an existing
  // group does): it waits for the leader to add it.
  void add_node(NodeId id) {
    REQUIRE(nodes_.count(id) == 0);
    stores_[id] = SimulatedStore{};
    joiners_.insert(id);
    all_.push_back(id);
    start(id);
  }
  // Every node the harness runs: the initial voters and any added since.
  const std::vector<NodeId>& all() const { return all_; }

  RawNode& node(NodeId id) { return *nodes_.at(id); }
  const SimulatedStore& store(NodeId id) const { return stores_.at(id); }
  const std::vector<Entry>& applied(NodeId id) const { return applied_.at(id); }
  const std::vector<NodeId>& voters() const { return voters_; }
  std::deque<Message>& network() { return network_; }
  const std::vector<std::string>& transcript() const { return transcript_; }
  std::vector<ReadState>& read_states(NodeId id) { return read_states_[id]; }

  // Messages matching this predicate are dropped when sent.
  std::function<bool(const Message&)> drop;

  // A "down" node neither sends nor receives, and is not ticked by tick_all().
  void isolate(NodeId id) { isolated_.insert(id); }
  void heal(NodeId id) { isolated_.erase(id); }
  void heal_all() { isolated_.clear(); }
  bool is_isolated(NodeId id) const { return isolated_.count(id) != 0; }

  // The caller role for one node, in the order types.h prescribes.
  void handle_ready(NodeId id) {
    RawNode& raft = node(id);
    if (!raft.has_ready()) return;
    Ready ready = raft.ready();
    SimulatedStore& store = stores_.at(id);
    // 1. Persist.
    if (ready.snapshot) {
      // The leader's state replaces ours; every entry in it must agree with what any node
      // applied at that index (State Machine Safety across snapshots).
      store.start = ready.snapshot->start;
      store.entries.clear();
      store.applied = ready.snapshot->start.index;
      std::vector<Entry> restored = decode_applied(*ready.snapshot->data);
      REQUIRE(restored.size() == ready.snapshot->start.index);
      for (const Entry& e : restored) {
        auto known = applied_by_index_.find(e.index);
        if (known != applied_by_index_.end()) {
          INFO("snapshot entry " << e.index);
          REQUIRE(known->second.term == e.term);
          REQUIRE(known->second.data == e.data);
        }
      }
      applied_[id] = restored;
      ++snapshots_installed_;
    }
    if (ready.hard_state) store.hard_state = *ready.hard_state;
    if (!ready.entries.empty()) {
      const Index first = ready.entries.front().index;
      REQUIRE(first > store.start.index);
      REQUIRE(first <= store.start.index + store.entries.size() + 1);  // no gaps in the store
      store.entries.resize(first - store.start.index - 1);
      for (const Entry& e : ready.entries) store.entries.push_back(e);
    }
    // 2. Send, checking that each message is backed by what was just persisted.
    for (const Message& m : ready.messages) {
      REQUIRE(m.from == id);
      REQUIRE(m.to != id);
      // A message may be of an older term than the hard state persisted with it (the node
      // moved on after producing it); it never runs ahead of it.
      // Pre-votes are about the next term, which nobody has entered: they may run ahead.
      const bool about_next_term = m.type == MessageType::pre_vote_request ||
                                   (m.type == MessageType::pre_vote_response && !m.reject);
      if (!about_next_term) REQUIRE(m.term <= store.hard_state.term);
      const bool current_term = m.term == store.hard_state.term;
      if (m.type == MessageType::vote_response && !m.reject && current_term) {
        REQUIRE(store.hard_state.vote == m.to);
      }
      if (m.type == MessageType::vote_request && current_term) {
        REQUIRE(store.hard_state.vote == id);
      }
      if (m.type == MessageType::append_response && !m.reject) {
        REQUIRE(store.start.index + store.entries.size() >= m.log_index);
      }
      transcript_.push_back(std::to_string(id) + ": " + describe(m));
      if (is_isolated(m.from) || is_isolated(m.to) || (drop && drop(m))) continue;
      network_.push_back(m);
    }
    // 3. Apply.
    for (const Entry& e : ready.committed_entries) {
      REQUIRE(e.index == store.applied + 1);
      REQUIRE(e.index <= store.hard_state.commit);
      REQUIRE(e.index > store.start.index);
      REQUIRE(e.index <= store.start.index + store.entries.size());
      REQUIRE(store.entries[e.index - store.start.index - 1] == e);
      store.applied = e.index;
      record_applied(id, e);
    }
    // Reads confirmed (served once applied; recorded for the tests).
    for (const ReadState& read : ready.read_states) read_states_[id].push_back(read);
    // 4. Advance.
    raft.advance(ready);
  }

  void handle_all_ready() {
    for (NodeId id : all_) handle_ready(id);
  }

  // Delivers one message; returns the step status.
  Status deliver(const Message& m) {
    if (is_isolated(m.to) || is_isolated(m.from)) return Status();
    return node(m.to).step(m);
  }

  // Runs Ready handling and delivery until nothing is in flight. Returns messages delivered.
  size_t stabilize(size_t max_messages = 100000) {
    size_t delivered = 0;
    while (true) {
      handle_all_ready();
      if (network_.empty()) break;
      while (!network_.empty()) {
        Message m = std::move(network_.front());
        network_.pop_front();
        // Messages may have been queued before a node was isolated.
        if (drop && drop(m)) continue;
        Status status = deliver(m);
        INFO(describe(m));
        REQUIRE(status.ok());
        REQUIRE(++delivered < max_messages);
      }
    }
    return delivered;
  }

  void tick(NodeId id) { node(id).tick(); }
  void tick_all() {
    for (NodeId id : all_) {
      if (!is_isolated(id)) node(id).tick();
    }
  }
  // Ticks all live nodes `ticks` times, stabilizing after each tick.
  void run(int ticks) {
    for (int i = 0; i < ticks; ++i) {
      tick_all();
      stabilize();
    }
  }

  // Elects `id` by campaign() and lets the cluster settle.
  void elect(NodeId id) {
    node(id).campaign();
    stabilize();
    REQUIRE(node(id).role() == Role::leader);
  }

  // Leaders among live nodes whose term is the highest term a live leader has.
  std::vector<NodeId> leaders() const {
    std::vector<NodeId> out;
    for (NodeId id : all_) {
      if (!is_isolated(id) && nodes_.at(id)->role() == Role::leader) out.push_back(id);
    }
    return out;
  }

  // Restarts `id` from its simulated store (a crash loses nothing persisted; the harness never
  // leaves unpersisted state between Readys, apart from what the node holds in memory).
  void restart(NodeId id) {
    network_.erase(std::remove_if(network_.begin(), network_.end(),
                                  [id](const Message& m) { return m.to == id; }),
                   network_.end());
    start(id);
  }

  // Replaces what `id` has on disk and restarts it from there (to build Figure 7 style logs).
  void load(NodeId id, SimulatedStore store) {
    stores_[id] = std::move(store);
    restart(id);
  }

  // The node's whole log (after its log start) as a vector.
  std::vector<Entry> log_of(NodeId id) {
    std::vector<Entry> out;
    for (Index i = node(id).log_start() + 1; i <= node(id).last_index(); ++i) {
      out.push_back(node(id).entry_at(i));
    }
    return out;
  }

  // What the caller of a compacting node does: offers a snapshot of its applied state, then
  // compacts the log through `through` and persists the new start.
  void compact(NodeId id, Index through) {
    RawNode& raft = node(id);
    raft.set_snapshot(raft.applied_index(),
                      std::make_shared<const std::string>(encode_applied(applied_.at(id))));
    const LogStart start = raft.compact(through);
    SimulatedStore& store = stores_.at(id);
    REQUIRE(start.index >= store.start.index);
    store.entries.erase(store.entries.begin(),
                        store.entries.begin() +
                            static_cast<std::ptrdiff_t>(start.index - store.start.index));
    store.start = start;
  }
  uint64_t snapshots_installed() const { return snapshots_installed_; }

 private:
  void start(NodeId id) {
    Config config = test_config(id, joiners_.count(id) != 0 ? std::vector<NodeId>{} : voters_,
                                seed_);
    if (tweak_) tweak_(config);
    const SimulatedStore& store = stores_.at(id);
    Recovered recovered{store.hard_state, store.entries, store.applied, store.start};
    nodes_[id] = std::make_unique<RawNode>(config, recovered);
    if (store.start.index > 0) {
      // As the agent does at start-up: a compacted log needs a snapshot to offer.
      nodes_[id]->set_snapshot(store.applied,
                               std::make_shared<const std::string>(encode_applied(applied_[id])));
    }
  }

  void record_applied(NodeId id, const Entry& e) {
    applied_[id].push_back(e);
    // State Machine Safety: no two nodes apply different entries at one index.
    auto [it, inserted] = applied_by_index_.emplace(e.index, e);
    if (!inserted) {
      INFO("node " << id << " applied a different entry at index " << e.index);
      REQUIRE(it->second == e);
    }
  }

  uint64_t seed_;
  ConfigTweak tweak_;
  std::vector<NodeId> voters_;  // the initial membership
  std::vector<NodeId> all_;
  std::set<NodeId> joiners_;    // started with no membership (add_node)
  std::map<NodeId, std::unique_ptr<RawNode>> nodes_;
  std::map<NodeId, SimulatedStore> stores_;
  std::map<NodeId, std::vector<Entry>> applied_;
  std::map<Index, Entry> applied_by_index_;
  std::set<NodeId> isolated_;
  std::deque<Message> network_;
  std::vector<std::string> transcript_;
  std::map<NodeId, std::vector<ReadState>> read_states_;
  uint64_t snapshots_installed_ = 0;
};

}  // namespace conclave::raft::testing
