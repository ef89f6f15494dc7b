// KvWatch: a key or prefix watch as a stream of changes, over Client::kv_watch's long polls.
//
//   conclave::client::KvWatch watch({.key = "app/config/", .prefix = true, .from_revision = 0});
//   for (;;) {
//     auto step = watch.next(client);                // waits up to kWaitMs for changes
//     if (!step.ok()) { ... }                        // see next(): usually just call again
//     if (step.value().fell_behind) { ... }          // re-read the keys (kv_list), then go on
//     for (const auto& event : step.value().events) { ... }   // revision order, each once
//   }
//
// Each poll asks from the revision after the last one answered, so the stream has no gaps and
// no repeats across leader changes, agent restarts and reconnections: after an error, call
// next() again (with a new Client if the connection was lost) and it carries on where it was.
//
// Falling behind: the cluster keeps a bounded history of changes (state/kv_history.h). A watch
// that has been running and asks for a revision the history no longer holds (it was not read
// for a long time, or the leader changed to a server that restarted recently) gets a step with
// `fell_behind` set and no events: the changes it names are gone for good, and the stream goes
// on from `resume_revision`. A consumer that keeps state should read the keys again (kv_list)
// then. A watch whose *first* poll asks for a revision that is no longer kept fails instead
// (not_found, naming the oldest revision it could start from), as `kv watch -from-rev` does.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "client/client.h"
#include "common/result.h"
#include "wire/client_messages.h"

namespace conclave::client {

struct FellBehind {
  uint64_t missed_from_revision = 0;  // changes from here ...
  uint64_t resume_revision = 0;       // ... up to the one before this are lost to the watch
};

struct KvWatchStep {
  std::vector<wire::KvEvent> events;      // revision order; empty when the wait ran out
  std::optional<FellBehind> fell_behind;  // set only on a step without events
};

class KvWatch {
 public:
  static constexpr uint32_t kWaitMs = 10'000;          // the agent holds a poll this long
  static constexpr uint32_t kTimeoutMs = kWaitMs + 5'000;

  // `start.key` / `start.prefix` say what to watch, `start.from_revision` where to start (0:
  // from the next change); wait_ms 0 means kWaitMs and max_events 0 the agent's default.
  explicit KvWatch(wire::KvWatchRequest start);

  // One poll through `client`. Errors: invalid_argument (a bad request) and, on the first
  // poll only, not_found (the start revision is no longer kept) are final; any other error
  // (no leader yet, timed out, the agent restarting) is worth calling again after a pause.
  Result<KvWatchStep> next(Client& client);

  // The same with the poll given as a function (what next(Client&) uses; tests use it too).
  using Poll = std::function<Result<wire::KvWatchResponse>(const wire::KvWatchRequest&)>;
  Result<KvWatchStep> next(const Poll& poll);

  // The revision the next poll starts from (0 before the first answer of a "from the next
  // change" watch).
  uint64_t next_revision() const { return request_.from_revision; }

 private:
  wire::KvWatchRequest request_;
  bool answered_once_ = false;
};

}  // namespace conclave::client
