// CommittedLogChecker: replays the committed log, index by index as the simulator learns it,
// into a reference state machine of its own (the same code and fault switches as the nodes),
// and checks what each applied entry did:
//   - per lock, fencing tokens of successive grants strictly increase;
//   - after every entry, no lock has more holders than slots, no session holds a slot twice,
//     and every holder's session exists (no grant to an ended session);
//   - waiters are granted in the order they were queued (FIFO), skipping those whose wait
//     ended (cancelled, or their session ended);
//   - no client write (client id, sequence) takes effect twice.
// The nodes apply the same log to the same code, and the simulator separately checks that they
// reach the same state hash, so these properties hold for every node's state.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "raft/types.h"
#include "state_machine/state_machine.h"

namespace conclave::sim {

class CommittedLogChecker {
 public:
  explicit CommittedLogChecker(state::StateMachineFaults faults) : machine_(faults) {}

  // The entry at the next index (precondition: entry.index == applied_index() + 1). Returns one
  // line per violation.
  std::vector<std::string> on_committed(const raft::Entry& entry);
  raft::Index applied_index() const { return machine_.applied_index(); }

  uint64_t grants() const { return grants_; }
  uint64_t fifo_grants_checked() const { return fifo_checked_; }
  uint64_t duplicates_answered() const { return duplicates_; }

 private:
  void check_lock(const std::string& name, std::vector<std::string>& violations) const;

  state::StateMachine machine_;
  std::map<std::string, uint64_t> last_token_;
  std::map<std::string, std::deque<uint64_t>> queued_;  // lock -> waiting sessions, in order
  std::set<std::pair<uint64_t, uint64_t>> applied_writes_;
  uint64_t grants_ = 0;
  uint64_t fifo_checked_ = 0;
  uint64_t duplicates_ = 0;
};

}  // namespace conclave::sim
