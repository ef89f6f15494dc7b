#include "tests/nemesis/workloads.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>

#include "client/client.h"
#include "tests/nemesis/fault_plan.h"

namespace conclave::nemesis {

namespace {

void sleep_ms(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// One worker's way into the cluster: a connection to a random agent, replaced after an error
// (the agent may be paused, killed or cut off; its next request goes elsewhere).
class Connection {
 public:
  Connection(const std::vector<std::string>& sockets, Random& random)
      : sockets_(sockets), random_(random) {}

  client::Client* get() {
    if (!client_) {
      const int64_t last = static_cast<int64_t>(sockets_.size()) - 1;
      const auto& socket = sockets_[static_cast<size_t>(random_.between(0, last))];
      auto connected = client::Client::connect(socket);
      if (!connected.ok()) return nullptr;
      client_.emplace(std::move(connected).value());
      socket_ = socket;
    }
    return &*client_;
  }
  void drop() { client_.reset(); }
  // The agent's socket file name ("s1.sock"), for reports.
  std::string agent() const { return std::filesystem::path(socket_).filename().string(); }

 private:
  const std::vector<std::string>& sockets_;
  Random& random_;
  std::optional<client::Client> client_;
  std::string socket_;
};

uint64_t worker_seed(uint64_t seed, int worker) {
  return seed ^ (0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(worker + 1));
}

}  // namespace

int64_t monotonic_ms() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

Workloads::Workloads(WorkloadOptions options) : options_(std::move(options)) {
  register_ops_.resize(static_cast<size_t>(options_.register_workers));
  grants_.resize(static_cast<size_t>(options_.lock_workers));
  adds_.resize(static_cast<size_t>(options_.set_workers));
  fenced_acknowledged_.resize(static_cast<size_t>(options_.lock_workers));
}

Workloads::~Workloads() { stop(); }

void Workloads::start() {
  started_ms_ = monotonic_ms();
  int worker = 0;
  for (int i = 0; i < options_.register_workers; ++i, ++worker) {
    threads_.emplace_back([this, i] { register_worker(i); });
  }
  for (int i = 0; i < options_.lock_workers; ++i, ++worker) {
    threads_.emplace_back([this, i] { lock_worker(i); });
  }
  for (int i = 0; i < options_.set_workers; ++i, ++worker) {
    threads_.emplace_back([this, i] { set_worker(i); });
  }
}

void Workloads::stop() {
  stopping_ = true;
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

std::string Workloads::progress() const {
  return "registers " + std::to_string(counts_.register_ok.load()) + " ok " +
         std::to_string(counts_.register_unknown.load()) + " unknown; locks " +
         std::to_string(counts_.lock_grants.load()) + " grants " +
         std::to_string(counts_.lock_errors.load()) + " errors; set " +
         std::to_string(counts_.set_ok.load()) + " ok " +
         std::to_string(counts_.set_unknown.load()) + " unknown";
}

int64_t Workloads::first_grant_at_or_after(int64_t since_ms) const {
  std::lock_guard<std::mutex> guard(grant_times_mutex_);
  // Pushed by several threads, each after reading the clock: not exactly sorted, and a few
  // thousand at most, so a plain scan.
  int64_t first = -1;
  for (int64_t at_ms : grant_times_ms_) {
    if (at_ms >= since_ms && (first < 0 || at_ms < first)) first = at_ms;
  }
  return first;
}

void Workloads::register_worker(int worker) {
  Random random(worker_seed(options_.seed, worker));
  Connection connection(options_.sockets, random);
  std::vector<check::Operation>& history = register_ops_[static_cast<size_t>(worker)];
  const uint32_t timeout = options_.request_timeout_ms;
  uint64_t written = 0;

  auto record = [&](check::Operation op, bool ok) {
    op.client = worker;
    op.response_ms = monotonic_ms();
    op.outcome = ok ? check::Outcome::ok : check::Outcome::unknown;
    (ok ? counts_.register_ok : counts_.register_unknown)++;
    if (!ok) connection.drop();
    history.push_back(std::move(op));
  };

  while (!stopping_) {
    client::Client* agent = connection.get();
    if (agent == nullptr) {
      sleep_ms(100);
      continue;
    }
    const int64_t epoch = (monotonic_ms() - started_ms_) / options_.key_epoch_ms;
    check::Operation op;
    op.key = "reg/" + std::to_string(epoch) + "/" +
             std::to_string(random.between(0, options_.register_keys - 1));
    // Half reads, 30% writes, 20% compare-and-sets (each after a read of its own).
    const int64_t roll = random.between(0, 99);
    const bool is_write = roll >= 50 && roll < 80;
    const bool is_cas = roll >= 80;
    if (is_write) {
      op.kind = check::OpKind::write;
      op.written = "w" + std::to_string(worker) + "-" + std::to_string(++written);
      op.invoke_ms = monotonic_ms();
      const bool ok = agent->kv_put(op.key, op.written, timeout).ok();
      record(std::move(op), ok);
    } else {
      // A read; for a compare-and-set, the read whose value (and revision) it compares against.
      op.kind = check::OpKind::read;
      op.invoke_ms = monotonic_ms();
      auto got = agent->kv_get(op.key, timeout);
      if (got.ok() && got.value().found) op.observed = got.value().value;
      const bool read_ok = got.ok();
      const check::Value seen = op.observed;
      const uint64_t revision = read_ok && got.value().found ? got.value().mod_revision : 0;
      const std::string key = op.key;
      record(std::move(op), read_ok);
      if (is_cas && read_ok) {
        // Values are unique, so "mod revision r" and "the value read at r" are the same test.
        check::Operation cas;
        cas.key = key;
        cas.kind = check::OpKind::cas;
        cas.expected = seen;
        cas.written = "w" + std::to_string(worker) + "-" + std::to_string(++written);
        cas.invoke_ms = monotonic_ms();
        auto put = agent->kv_put_if(cas.key, cas.written, revision, timeout);
        if (put.ok()) {
          cas.cas_result = check::CasResult::succeeded;
          record(std::move(cas), true);
        } else if (put.error().code == ErrorCode::conflict) {
          cas.cas_result = check::CasResult::failed_compare;
          record(std::move(cas), true);
        } else {
          record(std::move(cas), false);
        }
      }
    }
    sleep_ms(random.between(0, 20));
  }
}

void Workloads::lock_worker(int worker) {
  Random random(worker_seed(options_.seed, 100 + worker));
  Connection connection(options_.sockets, random);
  uint64_t session = 0;  // 0: none (a session's id is its Raft index, never 0)
  const uint32_t timeout = options_.request_timeout_ms;
  auto give_up_connection = [&] {
    connection.drop();  // the session is bound to it: closing ends it and frees its lock
    session = 0;
    counts_.lock_errors++;
    sleep_ms(random.between(50, 300));
  };

  while (!stopping_) {
    client::Client* agent = connection.get();
    if (agent == nullptr) {
      sleep_ms(100);
      continue;
    }
    if (session == 0) {
      auto created = agent->session_create({}, timeout);
      if (!created.ok()) {
        give_up_connection();
        continue;
      }
      session = created.value();
    }
    check::LockGrant grant;
    grant.client = worker;
    grant.invoke_ms = monotonic_ms();
    client::Client::LockOptions lock;
    lock.name = options_.lock_name;
    lock.session = session;
    lock.wait_ms = 2000;
    auto granted = agent->lock_acquire(lock, 2000 + timeout);
    if (!granted.ok()) {
      // Also a wait that ran out: whether a grant raced with it is unknown, so the session
      // (and any lock it might hold) goes with the connection.
      give_up_connection();
      continue;
    }
    if (granted.value().kind != wire::LockEventKind::granted) {
      give_up_connection();  // answered, but not with a grant (lost at once)
      continue;
    }
    grant.granted_ms = monotonic_ms();
    grant.token = granted.value().token;
    grant.valid_until_ms = granted.value().valid_until_ms;
    grant.context = "via " + connection.agent() + ", session " + std::to_string(session) +
                    ", granted valid until " +
                    std::to_string(grant.valid_until_ms - started_ms_);
    counts_.lock_grants++;
    {
      std::lock_guard<std::mutex> guard(grant_times_mutex_);
      grant_times_ms_.push_back(grant.granted_ms);
    }

    const int64_t increments = random.between(1, 3);
    bool connection_failed = false;
    for (int64_t i = 0; i < increments; ++i) {
      // A careful holder checks its lock before each use...
      note_lock_events(*agent, grant);
      if (grant.gave_up_ms || monotonic_ms() >= grant.valid_until_ms) break;
      // ...and may still be paused between that check and the use (as a GC pause would): the
      // fencing must protect both counters from whatever happened meanwhile. It acts anyway.
      if (random.chance(0.1)) {
        sleep_ms(random.between(500, 4000));
        note_lock_events(*agent, grant);
      }
      // The counter outside the cluster.
      const auto value = counter_.read(worker, grant.token);
      if (value) {
        sleep_ms(random.between(0, 30));
        counter_.write(worker, grant.token, *value + 1);
      }
      // The counter in the cluster, written with the cluster's own fencing.
      if (!increment_fenced_register(*agent, grant.token, worker)) {
        connection_failed = true;
        break;
      }
    }
    note_lock_events(*agent, grant);
    if (!grant.gave_up_ms) grant.gave_up_ms = monotonic_ms();
    if (connection_failed) grant.context += ", connection failed";
    grants_[static_cast<size_t>(worker)].push_back(grant);
    if (connection_failed || !agent->lock_release(options_.lock_name, session, timeout).ok()) {
      give_up_connection();
      continue;
    }
    agent->discard_lock_events();
    sleep_ms(random.between(0, 100));
  }
}

void Workloads::note_lock_events(client::Client& agent, check::LockGrant& grant) {
  while (!grant.gave_up_ms) {
    auto event = agent.next_lock_event(0);
    if (!event.ok() || !event.value()) return;
    const wire::LockEvent& seen = *event.value();
    if (seen.name != options_.lock_name || seen.token != grant.token) continue;
    static const char* const kKinds[] = {"granted", "renewed", "jeopardy", "lost", "released"};
    const auto kind = static_cast<size_t>(seen.kind);
    grant.context += std::string(", ") + (kind < 5 ? kKinds[kind] : "?") + " seen at " +
                     std::to_string(monotonic_ms() - started_ms_) + " until " +
                     std::to_string(seen.valid_until_ms - started_ms_);
    if (seen.kind == wire::LockEventKind::lost) grant.context += " '" + seen.message + "'";
    switch (seen.kind) {
      case wire::LockEventKind::granted:
      case wire::LockEventKind::renewed:
      case wire::LockEventKind::jeopardy:
        // Each validity the agent gives is its promise that nobody else can be granted the
        // lock before it (agent/locks); a jeopardy may shorten what the holder relies on, but
        // the earlier promise stands, so the largest is the one checked.
        grant.valid_until_ms = std::max(grant.valid_until_ms, seen.valid_until_ms);
        break;
      case wire::LockEventKind::lost:
      case wire::LockEventKind::released:
        grant.gave_up_ms = monotonic_ms();
        break;
    }
  }
}

bool Workloads::increment_fenced_register(client::Client& agent, uint64_t token, int worker) {
  std::vector<int64_t>& acknowledged = fenced_acknowledged_[static_cast<size_t>(worker)];
  auto got = agent.kv_get(options_.fenced_key, options_.request_timeout_ms);
  if (!got.ok()) return false;
  const int64_t value = got.value().found ? std::stoll(got.value().value) : 0;
  auto put = agent.kv_put_fenced(options_.fenced_key, std::to_string(value + 1),
                                 options_.lock_name, token, options_.request_timeout_ms);
  if (put.ok()) {
    acknowledged.push_back(value + 1);
    counts_.fenced_writes_ok++;
    return true;
  }
  if (put.error().code == ErrorCode::conflict) {  // refused: not the holder any more
    fenced_refused_++;
    return true;
  }
  fenced_unknown_++;
  return false;
}

void Workloads::set_worker(int worker) {
  Random random(worker_seed(options_.seed, 200 + worker));
  Connection connection(options_.sockets, random);
  uint64_t added = 0;
  while (!stopping_) {
    client::Client* agent = connection.get();
    if (agent == nullptr) {
      sleep_ms(100);
      continue;
    }
    check::SetAdd add;
    add.element = "w" + std::to_string(worker) + "-" + std::to_string(++added);
    add.acknowledged = agent->kv_put("set/" + add.element, "1", options_.request_timeout_ms).ok();
    (add.acknowledged ? counts_.set_ok : counts_.set_unknown)++;
    if (!add.acknowledged) connection.drop();
    adds_[static_cast<size_t>(worker)].push_back(std::move(add));
    sleep_ms(random.between(10, 40));
  }
}

std::vector<check::Operation> Workloads::register_history() const {
  std::vector<check::Operation> all;
  for (const auto& ops : register_ops_) all.insert(all.end(), ops.begin(), ops.end());
  return all;
}

std::vector<check::LockGrant> Workloads::lock_grants() const {
  std::vector<check::LockGrant> all;
  for (const auto& grants : grants_) all.insert(all.end(), grants.begin(), grants.end());
  return all;
}

std::vector<check::SetAdd> Workloads::set_adds() const {
  std::vector<check::SetAdd> all;
  for (const auto& adds : adds_) all.insert(all.end(), adds.begin(), adds.end());
  return all;
}

check::FencedRegisterHistory Workloads::fenced_register() const {
  check::FencedRegisterHistory history;
  for (const auto& values : fenced_acknowledged_) {
    history.acknowledged_values.insert(history.acknowledged_values.end(), values.begin(),
                                       values.end());
  }
  history.unknown = fenced_unknown_;
  history.refused = fenced_refused_;
  return history;
}

template <typename T>
Result<T> Workloads::read_through_any_agent(
    int64_t limit_ms, const std::string& what,
    const std::function<Result<T>(client::Client&)>& read) const {
  const int64_t deadline = monotonic_ms() + limit_ms;
  std::string last_error = "no agent answered";
  while (monotonic_ms() < deadline) {
    for (const std::string& socket : options_.sockets) {
      auto connected = client::Client::connect(socket);
      if (!connected.ok()) continue;
      auto result = read(connected.value());
      if (result.ok()) return result;
      last_error = result.error().message;
    }
    sleep_ms(500);
  }
  return Error{ErrorCode::timed_out, "the final read of " + what + " failed: " + last_error};
}

Result<int64_t> Workloads::read_fenced_register(int64_t limit_ms) const {
  return read_through_any_agent<int64_t>(
      limit_ms, "the fenced counter", [&](client::Client& agent) -> Result<int64_t> {
        auto got = agent.kv_get(options_.fenced_key, 5000);
        if (!got.ok()) return got.error();
        return got.value().found ? std::stoll(got.value().value) : 0;
      });
}

Result<std::vector<std::string>> Workloads::read_set(int64_t limit_ms) const {
  using Elements = std::vector<std::string>;
  return read_through_any_agent<Elements>(
      limit_ms, "the set", [&](client::Client& agent) -> Result<Elements> {
        Elements elements;
        wire::KvListRequest request;
        request.prefix = "set/";
        request.keys_only = true;
        while (true) {
          auto page = agent.kv_list(request, 5000);
          if (!page.ok()) return page.error();
          for (const auto& item : page.value().items) elements.push_back(item.key.substr(4));
          if (!page.value().more) return elements;
          request.after = page.value().items.back().key;
        }
      });
}

}  // namespace conclave::nemesis
