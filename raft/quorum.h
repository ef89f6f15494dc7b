// Majority arithmetic for a fixed voter set (Raft §5.2 elections, §5.4.2 commitment).
#pragma once

#include <cstddef>
#include <vector>

#include "raft/types.h"

namespace conclave::raft {

// Votes needed to win an election or commit an entry among `voter_count` voters: a strict
// majority, so any two quorums share at least one voter (the root of Raft's safety).
size_t quorum_size(size_t voter_count);

// The highest index that a quorum of voters has replicated, given one match index per voter
// (the leader's own included). Whether that index may be committed is a separate question: the
// entry's term must also be the leader's current term (§5.4.2, Figure 8).
// Precondition: match_indexes is not empty.
Index quorum_match_index(std::vector<Index> match_indexes);

}  // namespace conclave::raft
