// `conclave lock NAME -- CMD ARGS...`: runs CMD while holding a cluster-wide lock.
//
// It creates a session bound to its connection to the local agent, waits for the lock (FIFO,
// at most -timeout), then runs CMD in a process group of its own with CONCLAVE_LOCK_NAME,
// CONCLAVE_LOCK_TOKEN (the fencing token) and CONCLAVE_LOCK_SESSION in its environment, and
// watches the lock while CMD runs:
//   - SIGINT, SIGTERM and SIGHUP are forwarded to CMD's process group (while still waiting,
//     they simply end the wait);
//   - when the lock is lost (the agent says so, the agent's connection breaks, or no renewal
//     arrives before the lock's validity runs out, e.g. the agent is paused), CMD's whole
//     process group gets SIGTERM, then SIGKILL after kLostKillGraceMs, which is shorter than
//     the margin by which the lost notice precedes any re-grant (agent/lock_timing.h);
//   - when CMD exits, the lock is released and `conclave lock` exits with CMD's status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace conclave::agent {

// Exit codes of `conclave lock` (besides CMD's own), documented in the README.
constexpr int kExitLockTimedOut = 124;  // the wait ran out (-timeout), or -try found it held
constexpr int kExitLockLost = 125;      // the lock was lost while CMD ran; CMD was terminated
constexpr int kExitCannotRun = 126;     // CMD could not be run (not executable, fork failed)
constexpr int kExitNotFound = 127;      // CMD was not found

constexpr int64_t kLostKillGraceMs = 200;

struct LockCommandOptions {
  std::string socket;
  std::string name;
  uint32_t limit = 1;            // -n: semaphore slots
  int64_t wait_ms = -1;          // -timeout; -1: wait as long as it takes; 0: -try
  int32_t lock_delay_ms = -1;    // -lock-delay; -1: the default
  uint32_t request_timeout_ms = 5000;
  bool verbose = false;          // also note the grant (token, session)
  std::vector<std::string> command;
};

// Runs the whole command; returns the process exit code. Messages go to stderr, each with a
// monotonic timestamp so that notices can be compared with other processes' logs.
int run_lock_command(const LockCommandOptions& options);

}  // namespace conclave::agent
