#include "agent/bench_command.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "client/client.h"

namespace conclave::agent {
namespace {

using Clock = std::chrono::steady_clock;

double millis(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

struct Shared {
  std::atomic<int64_t> next_op{0};
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> errors{0};
  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::string first_error;
};

void note_error(Shared& shared, const std::string& message) {
  shared.errors++;
  std::lock_guard<std::mutex> lock(shared.mutex);
  if (shared.first_error.empty()) shared.first_error = message;
}

std::string key_of(int64_t op, int keys) { return "bench/" + std::to_string(op % keys); }

void run_client(const BenchOptions& options, int index, Shared& shared) {
  auto connected =
      client::Client::connect(options.sockets[static_cast<size_t>(index) % options.sockets.size()]);
  if (!connected.ok()) {
    note_error(shared, connected.error().message);
    return;
  }
  client::Client& client = connected.value();
  const std::string value(options.value_size, 'v');
  uint64_t session = 0;
  std::string lock_name;
  if (options.mode == "lock" || options.mode == "lock-contended") {
    auto created = client.session_create({0, "conclave bench", true}, options.timeout_ms);
    if (!created.ok()) {
      note_error(shared, created.error().message);
      return;
    }
    session = created.value();
    lock_name = options.mode == "lock" ? "bench/lock-" + std::to_string(index)
                                       : std::string("bench/contended");
  }
  std::vector<double> latencies;
  for (int64_t op = shared.next_op++; op < options.ops; op = shared.next_op++) {
    const auto start = Clock::now();
    Status status;
    if (options.mode == "put") {
      status = client.kv_put(key_of(op, options.keys), value, options.timeout_ms).status();
    } else if (options.mode == "get") {
      status = client.kv_get(key_of(op, options.keys), options.timeout_ms).status();
    } else {
      client::Client::LockOptions lock;
      lock.name = lock_name;
      lock.session = session;
      lock.wait_ms = 60000;
      status = client.lock_acquire(lock, options.timeout_ms).status();
      if (status.ok()) status = client.lock_release(lock_name, session, options.timeout_ms);
      client.discard_lock_events();
    }
    latencies.push_back(millis(Clock::now() - start));
    if (!status.ok()) note_error(shared, status.error().message);
    shared.done++;
  }
  std::lock_guard<std::mutex> lock(shared.mutex);
  shared.latencies_ms.insert(shared.latencies_ms.end(), latencies.begin(), latencies.end());
}

double percentile(const std::vector<double>& sorted, double fraction) {
  if (sorted.empty()) return 0;
  const size_t index = std::min(sorted.size() - 1,
                                static_cast<size_t>(fraction * static_cast<double>(sorted.size())));
  return sorted[index];
}

}  // namespace

int run_bench(const BenchOptions& options) {
  if (options.mode == "get") {
    // The keys exist first, so that every get reads a value.
    auto connected = client::Client::connect(options.sockets.front());
    if (!connected.ok()) {
      std::fprintf(stderr, "Error: %s\n", connected.error().message.c_str());
      return 1;
    }
    const std::string value(options.value_size, 'v');
    for (int key = 0; key < options.keys; ++key) {
      auto put = connected.value().kv_put(key_of(key, options.keys), value, options.timeout_ms);
      if (!put.ok()) {
        std::fprintf(stderr, "Error: writing the keys to read: %s\n",
                     put.error().message.c_str());
        return 1;
      }
    }
  }
  Shared shared;
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < options.clients; ++i) {
    threads.emplace_back([&, i] { run_client(options, i, shared); });
  }
  std::atomic<bool> finished{false};
  std::thread progress([&] {
    int64_t last = 0;
    while (!finished) {
      for (int i = 0; i < 10 && !finished; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      const int64_t done = shared.done;
      std::fprintf(stderr, "bench %s: %lld/%lld ops, %lld ops/s, %lld errors\n",
                   options.mode.c_str(), static_cast<long long>(done),
                   static_cast<long long>(options.ops), static_cast<long long>(done - last),
                   static_cast<long long>(shared.errors.load()));
      last = done;
    }
  });
  for (std::thread& thread : threads) thread.join();
  finished = true;
  progress.join();
  const double elapsed_s = millis(Clock::now() - start) / 1000.0;

  std::vector<double> sorted = shared.latencies_ms;
  std::sort(sorted.begin(), sorted.end());
  const int64_t ops = static_cast<int64_t>(sorted.size());
  const double ops_per_s = elapsed_s > 0 ? static_cast<double>(ops) / elapsed_s : 0;
  const double p50 = percentile(sorted, 0.50), p99 = percentile(sorted, 0.99),
               p999 = percentile(sorted, 0.999);
  const double max = sorted.empty() ? 0 : sorted.back();
  if (!shared.first_error.empty()) {
    std::fprintf(stderr, "bench: %lld errors; the first: %s\n",
                 static_cast<long long>(shared.errors.load()), shared.first_error.c_str());
  }
  if (options.json) {
    nlohmann::json out = {{"mode", options.mode},
                          {"clients", options.clients},
                          {"ops", ops},
                          {"errors", shared.errors.load()},
                          {"seconds", elapsed_s},
                          {"ops_per_s", ops_per_s},
                          {"p50_ms", p50},
                          {"p99_ms", p99},
                          {"p999_ms", p999},
                          {"max_ms", max},
                          {"value_size", options.value_size},
                          {"keys", options.keys},
                          {"agents", options.sockets.size()}};
    if (options.mode == "lock-contended") out["handoffs"] = ops;
    std::cout << out.dump() << "\n";
  } else {
    std::printf("mode:        %s (%d clients over %zu agent%s)\n", options.mode.c_str(),
                options.clients, options.sockets.size(),
                options.sockets.size() == 1 ? "" : "s");
    std::printf("ops:         %lld in %.2f s, %lld errors\n", static_cast<long long>(ops),
                elapsed_s, static_cast<long long>(shared.errors.load()));
    std::printf("throughput:  %.0f %s/s\n", ops_per_s,
                options.mode == "lock-contended" ? "handoffs"
                : options.mode == "lock"         ? "lock+unlock"
                                                 : "ops");
    std::printf("latency ms:  p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", p50, p99, p999, max);
  }
  return 0;
}

}  // namespace conclave::agent
