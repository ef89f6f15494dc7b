// `conclave bench put|get|lock|lock-contended`: load through the real client path (the Unix
// socket of one or more agents), reporting throughput and latency percentiles.
//
//   put             each client puts values of -value-size bytes over -keys keys
//   get             each client reads those keys (written once first)
//   lock            each client acquires and releases a lock of its own
//   lock-contended  all clients take turns on one lock; every acquisition is a handoff
//
// Clients are threads with a connection each, spread round-robin over the given sockets. A
// progress line goes to stderr every second; the result table (or, with -format json, one
// JSON object as the last line) to stdout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace conclave::agent {

struct BenchOptions {
  std::string mode;                  // put | get | lock | lock-contended
  std::vector<std::string> sockets;  // at least one
  int clients = 1;
  int64_t ops = 10000;               // in all, shared among the clients
  size_t value_size = 64;
  int keys = 1000;
  bool json = false;
  uint32_t timeout_ms = 5000;
};

// Runs the benchmark; returns the exit code (0 when it ran, even with some errors, which it
// reports; 1 when it could not start).
int run_bench(const BenchOptions& options);

}  // namespace conclave::agent
