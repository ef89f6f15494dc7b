// How the `conclave` command prints what the agent answers: a table for people (the default)
// or JSON for scripts (-format json). JSON field names are stable and snake_case.
#pragma once

#include "wire/client_messages.h"

namespace conclave::agent {

void print_members(const wire::MembersResponse& members, bool json);
void print_status(const wire::StatusResponse& status, bool json);
void print_sessions(const wire::SessionListResponse& sessions, bool json);
void print_locks(const wire::LockListResponse& locks, bool json);
void print_raft_peers(const wire::RaftPeersResponse& peers, bool json);

}  // namespace conclave::agent
