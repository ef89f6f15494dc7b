// The Raft snapshot's data: every row of the replicated state (store::StateRow, as store/ keeps
// them and StateMachine::restore takes them), as one FlatBuffer (wire/state.fbs
// StateSnapshot). Sent in chunks by raft/ (raft::MessageType::snapshot).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/records.h"

namespace conclave::wire {

// Rows one snapshot may hold (keys, sessions, locks and clients together).
constexpr size_t kMaxSnapshotRows = 50'000'000;

std::string encode_state_snapshot(const std::vector<store::StateRow>& rows);
// Errors: malformed (does not verify or decode), too_large (more than max_rows rows).
Result<std::vector<store::StateRow>> decode_state_snapshot(std::string_view bytes,
                                                           size_t max_rows);

}  // namespace conclave::wire
