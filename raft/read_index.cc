#include "raft/read_index.h"

#include <algorithm>

#include "raft/quorum.h"

namespace conclave::raft {

void ReadIndexQueue::add(uint64_t context, Index commit_index) {
  reads_.push_back(PendingRead{context, commit_index, round_ + 1});
  next_round_pending_ = true;
}

uint64_t ReadIndexQueue::start_round() {
  round_ += 1;
  next_round_pending_ = false;
  return round_;
}

void ReadIndexQueue::on_ack(NodeId peer, uint64_t round) {
  uint64_t& acked = acked_round_[peer];
  acked = std::max(acked, std::min(round, round_));  // never beyond what was sent
}

uint64_t ReadIndexQueue::quorum_acked_round(const std::vector<NodeId>& voters,
                                            NodeId self) const {
  if (voters.empty()) return 0;
  std::vector<Index> rounds;
  rounds.reserve(voters.size());
  for (NodeId voter : voters) {
    if (voter == self) {
      rounds.push_back(round_);
    } else {
      auto found = acked_round_.find(voter);
      rounds.push_back(found == acked_round_.end() ? 0 : found->second);
    }
  }
  return quorum_match_index(std::move(rounds));
}

std::vector<ReadState> ReadIndexQueue::take_confirmed(const std::vector<NodeId>& voters,
                                                      NodeId self) {
  std::vector<ReadState> confirmed;
  if (reads_.empty()) return confirmed;
  const uint64_t quorum_round = quorum_acked_round(voters, self);
  while (!reads_.empty() && reads_.front().round <= quorum_round) {
    confirmed.push_back(ReadState{reads_.front().context, reads_.front().index});
    reads_.pop_front();
  }
  return confirmed;
}

void ReadIndexQueue::reset() {
  reads_.clear();
  acked_round_.clear();
  round_ = 0;
  next_round_pending_ = false;
}

}  // namespace conclave::raft
