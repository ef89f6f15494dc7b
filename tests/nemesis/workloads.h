// The nemesis's workloads: client threads that use the cluster through the real client path
// (client::Client on the agents' Unix sockets, each thread on a random agent, moving to another
// after any error) and record what they saw, for the checkers in check/:
//
//   registers  read, write and compare-and-set on a few keys (a fresh set of keys every
//              key_epoch_ms, so each key's history stays small enough to search), recorded as
//              check::Operation with ok / unknown outcomes -> check_linearizable
//   locks      take one lock and, under it, increment two counters with the grant's token: one
//              outside the cluster (check/fenced_counter.h, as a storage service would keep
//              it) and one in the cluster, written with kv_put_fenced (the cluster's own
//              fencing); sometimes pausing (as a GC pause would) between checking the lock's
//              validity and using it; then release -> check_lock_history,
//              check_fenced_register
//   set        add distinct keys under set/; one read after healing -> check_set
//
// Outcomes: an answer is ok; any error is unknown (the request may or may not have taken
// effect), except a compare-and-set's conflict, which is an ok "compare failed". Unknown is
// always sound: it only lets the checker explain more. Times are CLOCK_MONOTONIC milliseconds,
// the clock the agents' lock validity uses.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "check/fenced_counter.h"
#include "check/linearizability.h"
#include "check/lock_history.h"
#include "check/set_history.h"
#include "client/client.h"
#include "common/result.h"

namespace conclave::nemesis {

int64_t monotonic_ms();

struct WorkloadOptions {
  std::vector<std::string> sockets;
  uint64_t seed = 0;
  int register_workers = 4;
  int lock_workers = 3;
  int set_workers = 2;
  int register_keys = 3;
  int64_t key_epoch_ms = 30000;
  uint32_t request_timeout_ms = 3000;
  std::string lock_name = "nemesis/lock";
  std::string fenced_key = "nemesis/fenced-counter";
};

// What the workloads did so far (read while they run, for progress lines).
struct WorkloadCounts {
  std::atomic<uint64_t> register_ok{0}, register_unknown{0};
  std::atomic<uint64_t> lock_grants{0}, lock_errors{0};
  std::atomic<uint64_t> fenced_writes_ok{0};  // a holder's kv_put_fenced acknowledged
  std::atomic<uint64_t> set_ok{0}, set_unknown{0};
};

class Workloads {
 public:
  explicit Workloads(WorkloadOptions options);
  ~Workloads();  // stops and joins the threads
  Workloads(const Workloads&) = delete;
  Workloads& operator=(const Workloads&) = delete;

  void start();
  void stop();
  const WorkloadCounts& counts() const { return counts_; }
  // When start() was called (monotonic_ms), to show times relative to it.
  int64_t started_ms() const { return started_ms_; }
  std::string progress() const;
  // The first lock grant at or after `since_ms` (monotonic_ms), or -1: how long the lock
  // stayed out of reach after a heal.
  int64_t first_grant_at_or_after(int64_t since_ms) const;

  // After stop():
  std::vector<check::Operation> register_history() const;
  std::vector<check::LockGrant> lock_grants() const;
  const check::FencedCounter& fenced_counter() const { return counter_; }
  // The in-cluster counter's writes (its final value left 0: read_fenced_register).
  check::FencedRegisterHistory fenced_register() const;
  Result<int64_t> read_fenced_register(int64_t limit_ms) const;
  std::vector<check::SetAdd> set_adds() const;
  // The set's elements, read through any agent that answers within limit_ms.
  Result<std::vector<std::string>> read_set(int64_t limit_ms) const;

 private:
  void register_worker(int worker);
  void lock_worker(int worker);
  void set_worker(int worker);
  // Reads the lock's queued events into `grant` (validity promised, loss or release).
  void note_lock_events(client::Client& agent, check::LockGrant& grant);
  // get + kv_put_fenced of the in-cluster counter; false when the connection should go (an
  // error whose outcome is unknown).
  bool increment_fenced_register(client::Client& agent, uint64_t token, int worker);
  // Runs `read` through each agent in turn until one succeeds or limit_ms has passed; the
  // error names `what` and the last failure.
  template <typename T>
  Result<T> read_through_any_agent(int64_t limit_ms, const std::string& what,
                                   const std::function<Result<T>(client::Client&)>& read) const;

  WorkloadOptions options_;
  std::atomic<bool> stopping_{false};
  int64_t started_ms_ = 0;
  std::vector<std::thread> threads_;
  WorkloadCounts counts_;
  check::FencedCounter counter_;
  // One vector per worker, written only by its thread; read after stop().
  std::vector<std::vector<check::Operation>> register_ops_;
  std::vector<std::vector<check::LockGrant>> grants_;
  std::vector<std::vector<check::SetAdd>> adds_;
  std::vector<std::vector<int64_t>> fenced_acknowledged_;  // per lock worker
  std::atomic<uint64_t> fenced_unknown_{0}, fenced_refused_{0};
  mutable std::mutex grant_times_mutex_;
  std::vector<int64_t> grant_times_ms_;  // every grant's monotonic_ms, in order
};

}  // namespace conclave::nemesis
