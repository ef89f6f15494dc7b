// The member table: what this node believes about every member, and the merge rules that
// decide whether an update changes that belief (SWIM §4.2).
//
// Owns: one Member per name (self included), at most `max_members` entries.
// Never: refutes (the caller handles updates about itself before they reach the table), sends
// anything, or reads a clock (`now_ms` only stamps state changes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gossip/gossip.h"
#include "gossip/types.h"

namespace conclave::gossip {

// Rank of a state at equal incarnation: alive < suspect < dead < left. A higher rank overrides
// a lower one (SWIM §4.2: suspect overrides alive, a confirmed failure overrides both). `left`
// ranks above `dead` so a graceful leave is never turned back into a failure.
int state_rank(MemberState state);

// SWIM §4.2 precedence: a higher incarnation wins; at equal incarnation the higher state rank
// wins; a lower incarnation, or an equal (incarnation, state), never overrides.
bool update_overrides(uint64_t current_incarnation, MemberState current_state,
                      uint64_t update_incarnation, MemberState update_state);

enum class MergeOutcome : uint8_t {
  ignored,     // stale, or news about an unknown member that is not alive
  accepted,    // the table changed (the caller disseminates the update)
  table_full,  // a new member beyond max_members: dropped, the caller counts it
};

struct MergeResult {
  MergeOutcome outcome = MergeOutcome::ignored;
  bool added = false;          // a new name entered the table
  std::optional<Event> event;  // set when the change is worth reporting
};

class MemberTable {
 public:
  explicit MemberTable(size_t max_members);

  // Inserts this node's own record. Precondition: the table holds no member of that name.
  void insert_self(const Member& self);

  // Merges an update about another member. Unknown names enter only when alive (memberlist
  // ignores suspicion or death of a node it never knew). An alive update that overrides also
  // takes its address and metadata; other states keep the last ones known.
  MergeResult apply(const MemberUpdate& update, int64_t now_ms);

  const Member* find(const std::string& name) const;
  // For changes that keep the member's state (incarnation, metadata); use set_state for that.
  Member* find(const std::string& name);
  // Sets a known member's state (this node's own graceful leave). Precondition: known.
  void set_state(const std::string& name, MemberState state, int64_t now_ms);
  void erase(const std::string& name);

  // The i-th member in insertion order (self included), for uniform random picks without a
  // walk over the whole table. Precondition: i < size().
  const Member& at(size_t i) const { return members_.at(names_[i]); }

  // Sorted by name, so every walk over it is deterministic.
  const std::map<std::string, Member>& all() const { return members_; }
  size_t size() const { return members_.size(); }
  // Members neither dead nor left (kept as a count: asked for on every packet sent).
  size_t alive_count() const { return live_count_; }

 private:
  static bool is_live(MemberState state) {
    return state == MemberState::alive || state == MemberState::suspect;
  }

  size_t max_members_;
  size_t live_count_ = 0;
  std::map<std::string, Member> members_;
  std::vector<std::string> names_;  // the same names, in insertion order (random access)
};

// The update that describes `member` as this node knows it.
MemberUpdate update_from_member(const Member& member, const std::string& from = {});

}  // namespace conclave::gossip
