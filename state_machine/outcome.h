// What applying one command gives back: the answer for the client that asked, and the effects
// that other waiting clients care about (lock grants, ended sessions).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "raft/types.h"
#include "wire/client_messages.h"
#include "wire/command.h"

namespace conclave::state {

struct Outcome {
  ErrorCode code = ErrorCode::ok;
  std::string message;  // empty when code == ok
  wire::ClientResponseBody body;

  static Outcome error(ErrorCode code, std::string message) {
    return Outcome{code, std::move(message), std::monostate{}};
  }
};

// A waiter that got its lock slot (at the entry being applied, possibly because of a release,
// a session's end, or the end of a lock-delay). (client_id, sequence) name the acquire request
// that has been waiting for this answer.
struct LockGrant {
  std::string lock;
  uint64_t session = 0;
  uint64_t token = 0;
  uint64_t client_id = 0;
  uint64_t sequence = 0;
};

// The final answer to a request other than the one applied now: a waiting acquire that got its
// slot, or whose wait ended (cancelled, or its session ended). The leader answers the agent that
// is waiting for (client_id, sequence), if any.
struct DeferredAnswer {
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  Outcome outcome;
};

struct Applied {
  raft::Index index = 0;
  std::optional<wire::Command> command;  // absent: a leader's no-op, or an undecodable entry
  bool duplicate = false;  // a retried request: answered as the first time, no effect
  bool waiting = false;    // a lock acquire queued: a later LockGrant answers it
  Outcome outcome;         // the answer to command's client (when it has one)
  std::vector<LockGrant> grants;       // every grant made while applying this entry
  std::vector<DeferredAnswer> deferred_answers;
  std::vector<uint64_t> ended_sessions;
};

}  // namespace conclave::state
