// Checks a loaded state for everything the Raft core and the state machine take as a
// precondition, so that a damaged or hand-edited database is a storage error with a message
// instead of an invariant abort at start-up.
#pragma once

#include <string>

#include "common/result.h"
#include "store/records.h"

namespace conclave::store {

// Log contiguous from index 1, terms non-decreasing and not above the hard state's term,
// applied <= commit <= last index, a vote only with a term, identity and voters well formed.
// `where` names the database in the message.
Status validate_recovered(const RecoveredState& state, const std::string& where);

}  // namespace conclave::store
