// LockClients: simulated programs that take locks through their hosts' agents (servers or
// client agents) and use what the locks protect, as `conclave lock` does: a program uses its
// slot from the grant until the first of a "lost" event, the validity its agent announced
// running out, its own release, or its agent's connection breaking. Some programs pause (like
// a long GC pause) while holding: they stop checking anything, and write with their old token
// when they wake up.
//
// What it checks:
//   - mutual exclusion as the holders see it: when a program is granted a slot, fewer than
//     `limit` other programs still use a slot of that lock. Paused programs are left out: they
//     break the rules by design, and fencing is what protects from them;
//   - it also models a fenced resource per mutex, which keeps the highest token it accepted and
//     refuses lower ones, and counts the stale writes (of paused programs) that it refused. That
//     fencing works needs tokens that strictly increase per lock, which CommittedLogChecker
//     checks on every grant.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/prng.h"
#include "wire/client_messages.h"

namespace conclave::sim {

struct LockClientsHost {
  std::function<bool(int machine)> alive;
  std::function<void(int machine, uint64_t connection, const wire::ClientRequest& request)> send;
  std::function<void(int machine, uint64_t connection)> disconnect;
  std::function<void(const std::string& text)> violation;
  std::function<void(const std::string& text)> narrate;
  int machine_count = 0;
};

struct LockClientsStats {
  uint64_t grants = 0;
  uint64_t releases = 0;
  uint64_t lost = 0;            // stopped by a lost event or by the validity running out
  uint64_t pauses = 0;
  uint64_t fenced_writes = 0;   // accepted by the resource
  uint64_t stale_writes_refused = 0;
};

class LockClients {
 public:
  LockClients(int count, LockClientsHost host, Prng& prng);

  // Runs each program's next step; new rounds start only while `may_start`.
  void step(int64_t now_ms, bool may_start);
  // A reply on a connection of this workload; false when the connection is not ours.
  bool on_reply(uint64_t connection, const wire::ClientResponse& response, int64_t now_ms);
  // The machine's agent crashed: its programs' connections broke.
  void machine_crashed(int machine, int64_t now_ms);
  const LockClientsStats& stats() const { return stats_; }

  // Connection ids used by this workload start here (the key/value clients use small ones).
  static constexpr uint64_t kFirstConnection = 1'000'000;

 private:
  enum class Phase : uint8_t { idle, creating, acquiring, holding, releasing };
  struct Program {
    int id = 0;
    Phase phase = Phase::idle;
    int machine = 0;
    uint64_t connection = 0;
    uint64_t generation = 0;
    uint64_t request_id = 0;
    uint64_t acquire_request = 0;
    std::string lock;
    uint32_t limit = 1;
    uint64_t session = 0;
    uint64_t token = 0;
    bool using_slot = false;
    int64_t valid_until_ms = 0;
    int64_t hold_until_ms = 0;
    int64_t next_write_ms = 0;
    bool paused = false;
    int64_t pause_until_ms = 0;
    int64_t next_action_ms = 0;
  };

  void start_round(Program& program, int64_t now_ms);
  void send(Program& program, wire::ClientRequestBody body, int64_t now_ms);
  void close(Program& program, int64_t next_action_ms);
  void stop_using(Program& program, const std::string& why, int64_t now_ms);
  void granted(Program& program, const wire::LockEvent& event, int64_t now_ms);
  void write(Program& program, int64_t now_ms, bool stale);

  LockClientsHost host_;
  Prng& prng_;
  std::vector<Program> programs_;
  std::map<std::string, uint64_t> resource_token_;  // the fenced resource, per lock
  LockClientsStats stats_;
};

}  // namespace conclave::sim
