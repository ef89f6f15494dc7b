#include "agent/follower_reads.h"

#include <utility>

namespace conclave::agent {

uint64_t FollowerReads::add(uint64_t connection_id, wire::ClientRequest request,
                            int64_t deadline_ms, int64_t now_ms) {
  const uint64_t context = kFollowerReadContextBit | next_context_++;
  pending_[context] = Read{"", 0, connection_id, std::move(request), deadline_ms,
                          now_ms + kConfirmTimeoutMs, 0};
  return context;
}

uint64_t FollowerReads::add_forwarded(const std::string& origin, uint64_t forward_id,
                                      wire::ClientRequest request, int64_t deadline_ms,
                                      int64_t now_ms) {
  const uint64_t context = kFollowerReadContextBit | next_context_++;
  pending_[context] = Read{origin, forward_id, 0, std::move(request), deadline_ms,
                          now_ms + kConfirmTimeoutMs, 0};
  return context;
}

void FollowerReads::confirmed(uint64_t context, raft::Index index) {
  auto found = pending_.find(context);
  if (found != pending_.end() && found->second.index == 0) found->second.index = index;
}

std::vector<FollowerReads::Read> FollowerReads::take_servable(raft::Index applied_index) {
  std::vector<Read> out;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.index != 0 && it->second.index <= applied_index) {
      out.push_back(std::move(it->second));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<FollowerReads::Read> FollowerReads::take_expired(int64_t now_ms) {
  std::vector<Read> out;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now_ms >= it->second.give_up_ms) {
      out.push_back(std::move(it->second));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<FollowerReads::Read> FollowerReads::take_all() {
  std::vector<Read> out;
  for (auto& [context, read] : pending_) out.push_back(std::move(read));
  pending_.clear();
  return out;
}

}  // namespace conclave::agent
