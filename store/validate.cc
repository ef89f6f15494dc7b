#include "store/validate.h"

#include <set>

namespace conclave::store {

Status validate_recovered(const RecoveredState& state, const std::string& where) {
  auto damaged = [&where](const std::string& what) {
    return make_error(ErrorCode::storage, "storage " + where + ": " + what +
                                              "; refusing to start on it (the data folder is "
                                              "damaged: move it away and rejoin as a new server)");
  };
  const raft::Index start = state.log_start.index;
  if (start == 0 && state.log_start.term != 0) {
    return damaged("the log start has a term but no index");
  }
  raft::Term previous_term = state.log_start.term;
  for (size_t i = 0; i < state.entries.size(); ++i) {
    const raft::Entry& entry = state.entries[i];
    if (entry.index != start + i + 1) {
      return damaged("the raft log has a gap before index " + std::to_string(entry.index));
    }
    if (entry.term < previous_term) {
      return damaged("the raft log's term goes down at index " + std::to_string(entry.index) +
                     " (" + std::to_string(previous_term) + " then " +
                     std::to_string(entry.term) + ")");
    }
    previous_term = entry.term;
  }
  if (previous_term > state.hard_state.term) {
    return damaged("the raft log holds term " + std::to_string(previous_term) +
                   ", above the recorded current term " + std::to_string(state.hard_state.term));
  }
  const raft::Index last_index = start + state.entries.size();
  if (state.hard_state.commit > last_index || state.applied_index > state.hard_state.commit ||
      state.applied_index < start) {
    return damaged("inconsistent positions (applied " + std::to_string(state.applied_index) +
                   ", commit " + std::to_string(state.hard_state.commit) + ", last log index " +
                   std::to_string(last_index) + ")");
  }
  if (state.identity && (state.identity->server_id == raft::kNoNode ||
                         state.identity->node_name.empty())) {
    return damaged("the identity row has no node name or server id");
  }
  std::set<raft::NodeId> seen;
  for (const ServerRecord& voter : state.voters) {
    if (voter.server_id == raft::kNoNode || !seen.insert(voter.server_id).second) {
      return damaged("the voter set holds server id 0 or a duplicate");
    }
  }
  if (!state.voters.empty() && !state.identity) {
    return damaged("voters are recorded but the identity row is missing");
  }
  return Status();
}

}  // namespace conclave::store
