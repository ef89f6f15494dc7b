#include "raft/quorum.h"

#include <algorithm>
#include <functional>

#include "common/check.h"

namespace conclave::raft {

size_t quorum_size(size_t voter_count) { return voter_count / 2 + 1; }

Index quorum_match_index(std::vector<Index> match_indexes) {
  CONCLAVE_CHECK(!match_indexes.empty(), "a quorum needs at least one voter");
  // Sorted from highest to lowest, the quorum_size-th value is held by at least a quorum.
  std::sort(match_indexes.begin(), match_indexes.end(), std::greater<Index>());
  return match_indexes[quorum_size(match_indexes.size()) - 1];
}

}  // namespace conclave::raft
