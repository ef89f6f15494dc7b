#include "gossip/member_table.h"

#include <algorithm>

#include "common/check.h"

namespace conclave::gossip {

int state_rank(MemberState state) {
  switch (state) {
    case MemberState::alive: return 0;
    case MemberState::suspect: return 1;
    case MemberState::dead: return 2;
    case MemberState::left: return 3;
  }
  return 0;
}

bool update_overrides(uint64_t current_incarnation, MemberState current_state,
                      uint64_t update_incarnation, MemberState update_state) {
  if (update_incarnation != current_incarnation) return update_incarnation > current_incarnation;
  return state_rank(update_state) > state_rank(current_state);
}

MemberTable::MemberTable(size_t max_members) : max_members_(max_members) {
  CONCLAVE_CHECK(max_members_ >= 1, "max_members must leave room for this node");
}

void MemberTable::insert_self(const Member& self) {
  const bool inserted = members_.emplace(self.name, self).second;
  CONCLAVE_CHECK(inserted, "self inserted twice into the member table");
  names_.push_back(self.name);
  if (is_live(self.state)) ++live_count_;
}

MergeResult MemberTable::apply(const MemberUpdate& update, int64_t now_ms) {
  MergeResult result;
  auto it = members_.find(update.name);
  if (it == members_.end()) {
    // Only a live member introduces itself: a suspicion or death of a name we never knew
    // carries nothing to act on (memberlist ignores it too), and it cannot be probed.
    if (update.state != MemberState::alive) return result;
    if (members_.size() >= max_members_) {
      result.outcome = MergeOutcome::table_full;
      return result;
    }
    Member member;
    member.name = update.name;
    member.address = update.address;
    member.incarnation = update.incarnation;
    member.state = MemberState::alive;
    member.metadata = update.metadata;
    member.cluster_id = update.cluster_id;
    member.state_changed_ms = now_ms;
    members_.emplace(update.name, member);
    names_.push_back(update.name);
    ++live_count_;
    result.outcome = MergeOutcome::accepted;
    result.added = true;
    result.event = Event{EventType::joined, member};
    return result;
  }

  Member& member = it->second;
  if (!update_overrides(member.incarnation, member.state, update.incarnation, update.state)) {
    return result;
  }
  const Member before = member;
  member.incarnation = update.incarnation;
  member.state = update.state;
  if (update.state == MemberState::alive) {
    // Only the member itself produces alive updates, so a newer one may move it or change
    // its metadata (SWIM §4.2: the incarnation orders a member's own statements).
    member.address = update.address;
    member.metadata = update.metadata;
    member.cluster_id = update.cluster_id;
  }
  if (member.state != before.state) member.state_changed_ms = now_ms;
  live_count_ += is_live(member.state);
  live_count_ -= is_live(before.state);
  result.outcome = MergeOutcome::accepted;

  switch (member.state) {
    case MemberState::alive:
      if (before.state == MemberState::dead || before.state == MemberState::left) {
        result.event = Event{EventType::joined, member};  // back from the dead (memberlist)
      } else if (before.state == MemberState::suspect || before.address != member.address ||
                 before.metadata != member.metadata) {
        result.event = Event{EventType::updated, member};  // refuted, moved or retagged
      }
      break;
    case MemberState::suspect:
      if (before.state != MemberState::suspect) result.event = Event{EventType::suspected, member};
      break;
    case MemberState::dead:
      if (before.state != MemberState::dead) result.event = Event{EventType::failed, member};
      break;
    case MemberState::left:
      if (before.state != MemberState::left) result.event = Event{EventType::left, member};
      break;
  }
  return result;
}

const Member* MemberTable::find(const std::string& name) const {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

Member* MemberTable::find(const std::string& name) {
  auto it = members_.find(name);
  return it == members_.end() ? nullptr : &it->second;
}

void MemberTable::set_state(const std::string& name, MemberState state, int64_t now_ms) {
  Member* member = find(name);
  CONCLAVE_CHECK(member != nullptr, "set_state of an unknown member");
  if (member->state == state) return;
  live_count_ += is_live(state);
  live_count_ -= is_live(member->state);
  member->state = state;
  member->state_changed_ms = now_ms;
}

void MemberTable::erase(const std::string& name) {
  auto it = members_.find(name);
  if (it == members_.end()) return;
  if (is_live(it->second.state)) --live_count_;
  members_.erase(it);
  auto position = std::find(names_.begin(), names_.end(), name);
  *position = std::move(names_.back());  // order does not matter: swap with the last
  names_.pop_back();
}

MemberUpdate update_from_member(const Member& member, const std::string& from) {
  MemberUpdate update;
  update.name = member.name;
  update.address = member.address;
  update.incarnation = member.incarnation;
  update.state = member.state;
  update.metadata = member.metadata;
  update.cluster_id = member.cluster_id;
  if (member.state != MemberState::alive) update.from = from;
  return update;
}

}  // namespace conclave::gossip
