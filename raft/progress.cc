#include "raft/progress.h"

#include <algorithm>

namespace conclave::raft {

bool Progress::can_send_entries() const {
  if (state_ == ReplicationState::probe) return !probe_paused_;
  // (One append may go even when it alone is larger: an entry must always be able to move.)
  return inflight_last_indexes_.size() < kMaxInflightAppends &&
         (inflight_last_indexes_.empty() || inflight_bytes_ < kMaxInflightBytes);
}

void Progress::on_entries_sent(Index last_sent_index, size_t bytes) {
  if (state_ == ReplicationState::probe) {
    // next_index stays: until the follower answers we do not know the probe matched.
    probe_paused_ = true;
    return;
  }
  next_index_ = last_sent_index + 1;
  inflight_last_indexes_.push_back(last_sent_index);
  inflight_sizes_.push_back(bytes);
  inflight_bytes_ += bytes;
}

bool Progress::on_success(Index matched_index) {
  probe_paused_ = false;
  if (matched_index <= match_index_) return false;  // duplicate or reordered answer
  match_index_ = matched_index;
  next_index_ = std::max(next_index_, matched_index + 1);
  if (state_ == ReplicationState::probe) {
    // The logs agree through matched_index: stream from there on (etcd "probe -> replicate").
    state_ = ReplicationState::replicate;
    next_index_ = matched_index + 1;
    inflight_last_indexes_.clear();
    inflight_sizes_.clear();
    inflight_bytes_ = 0;
  }
  while (!inflight_last_indexes_.empty() && inflight_last_indexes_.front() <= matched_index) {
    inflight_last_indexes_.pop_front();
    inflight_bytes_ -= inflight_sizes_.front();
    inflight_sizes_.pop_front();
  }
  return true;
}

bool Progress::on_reject(Index rejected_index, Index hint) {
  if (state_ == ReplicationState::replicate) {
    // An answer about indexes already known to match is from an older exchange.
    if (rejected_index <= match_index_) return false;
  } else if (rejected_index + 1 != next_index_) {
    return false;  // answers a probe we have since replaced
  }
  // Raft §5.3: decrement nextIndex and retry. The follower's last index bounds the jump: it
  // holds nothing after `hint`, so trying past hint + 1 would be rejected again. Never go at or
  // below what is known to match.
  const Index next = std::max(match_index_ + 1, std::min(rejected_index, hint + 1));
  become_probe();
  next_index_ = next;
  return true;
}

bool Progress::on_heartbeat() {
  probe_paused_ = false;
  // The same oldest append still unacknowledged a whole heartbeat interval later: it (or its
  // answer) was probably lost. Indexes in flight strictly increase, so equal means same message.
  // It must also have been handed out to be sent by the previous heartbeat: the interval
  // counts from when it could leave, not from when it was created.
  const bool stalled = state_ == ReplicationState::replicate &&
                       !inflight_last_indexes_.empty() &&
                       inflight_last_indexes_.front() == oldest_inflight_at_last_heartbeat_ &&
                       oldest_inflight_at_last_heartbeat_ <= handed_out_at_last_heartbeat_;
  if (stalled) become_probe();
  oldest_inflight_at_last_heartbeat_ =
      inflight_last_indexes_.empty() ? 0 : inflight_last_indexes_.front();
  handed_out_at_last_heartbeat_ = handed_out_index_;
  return stalled;
}

void Progress::set_self_match(Index match_index) {
  match_index_ = match_index;
  next_index_ = match_index + 1;
  state_ = ReplicationState::replicate;
}

void Progress::become_probe() {
  state_ = ReplicationState::probe;
  next_index_ = match_index_ + 1;
  // Appends resent from here have not been handed out yet, whatever their index.
  handed_out_index_ = std::min(handed_out_index_, match_index_);
  handed_out_at_last_heartbeat_ = std::min(handed_out_at_last_heartbeat_, match_index_);
  probe_paused_ = false;
  inflight_last_indexes_.clear();
  inflight_sizes_.clear();
  inflight_bytes_ = 0;
}

}  // namespace conclave::raft
