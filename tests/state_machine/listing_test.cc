// The reads behind `session ls` and `lock ls`: list_sessions() and list_locks(prefix), with
// holders named by node, waiters in queue order and lock-delays.
#include "tests/state_machine/harness.h"

using namespace conclave;
using namespace conclave::state;
using namespace conclave::state::testing;

namespace {

std::vector<std::string> names(const wire::LockListResponse& response) {
  std::vector<std::string> out;
  for (const wire::LockInfo& info : response.locks) out.push_back(info.name);
  return out;
}

// Three sessions, three locks: db/a held by alpha with beta and gamma waiting, db/b a
// semaphore held by alpha and beta, web/x held by gamma.
struct Scene {
  Harness h;
  uint64_t alpha = 0, beta = 0, gamma = 0;
  Scene() {
    h.now_ms = 10'000;
    alpha = h.create_session("alpha", 1, 5'000, "web");  // 1
    beta = h.create_session("beta", 2);                  // 2
    gamma = h.create_session("gamma", 3);                // 3
    h.now_ms = 11'000;
    h.lock("db/a", alpha, 1, 2'000);                     // 4
    h.lock("db/b", alpha, 2);                            // 5
    h.lock("db/b", beta, 2);                             // 6
    h.now_ms = 12'000;
    h.client(2, 1, wait_op("db/a", beta));               // 7
    h.client(3, 1, wait_op("db/a", gamma));              // 8
    h.lock("web/x", gamma);                              // 9
    h.leader(renew_op(beta));                            // 10
  }
};

}  // namespace

// Every session with its node, TTL, times (cluster clock), description and the locks it holds
// (not those it waits for), in id order.
TEST_CASE("listing: list_sessions shows every session and the locks it holds") {
  Scene scene;
  const std::vector<wire::SessionInfo> expected{
      {1, "alpha", 5'000, 10'000, 10'000, "web", {"db/a", "db/b"}},
      {2, "beta", 0, 10'000, 12'000, "", {"db/b"}},
      {3, "gamma", 0, 10'000, 10'000, "", {"web/x"}},
  };
  CHECK(scene.h.sm.list_sessions().sessions == expected);
}

// list_locks(prefix): the locks whose names start with prefix, in name order; holders with
// their node, token and grant time; waiters in FIFO order; no lock-delay in force.
TEST_CASE("listing: list_locks shows holders with node names and waiters in order") {
  Scene scene;
  const std::vector<wire::LockInfo> expected{
      {"db/a", 1, {{1, "alpha", 4, 11'000}}, {{2, "beta", 12'000}, {3, "gamma", 12'000}}, 0},
      {"db/b", 2, {{1, "alpha", 5, 11'000}, {2, "beta", 6, 11'000}}, {}, 0},
  };
  CHECK(scene.h.sm.list_locks("db/").locks == expected);

  CHECK(names(scene.h.sm.list_locks("")) == std::vector<std::string>{"db/a", "db/b", "web/x"});
  CHECK(names(scene.h.sm.list_locks("d")) == std::vector<std::string>{"db/a", "db/b"});
  CHECK(names(scene.h.sm.list_locks("db/a")) == std::vector<std::string>{"db/a"});
  CHECK(names(scene.h.sm.list_locks("web")) == std::vector<std::string>{"web/x"});
  CHECK(names(scene.h.sm.list_locks("db/c")).empty());
  CHECK(names(scene.h.sm.list_locks("zzz")).empty());
  CHECK(names(scene.h.sm.list_locks("db/a/")).empty());
}

// After alpha's node fails: alpha is gone from the sessions; db/a shows no holder, the same
// waiters and the end of alpha's lock-delay; db/b (no delay) kept only beta.
TEST_CASE("listing: list_locks shows a lock-delay in force after a holder's node failed") {
  Scene scene;
  scene.h.now_ms = 13'000;
  scene.h.leader(invalidate_op("alpha", 1));  // 11
  const std::vector<wire::LockInfo> expected{
      {"db/a", 1, {}, {{2, "beta", 12'000}, {3, "gamma", 12'000}}, 15'000},
      {"db/b", 2, {{2, "beta", 6, 11'000}}, {}, 0},
  };
  CHECK(scene.h.sm.list_locks("db/").locks == expected);
  const std::vector<wire::SessionInfo> sessions{
      {2, "beta", 0, 10'000, 12'000, "", {"db/b"}},
      {3, "gamma", 0, 10'000, 10'000, "", {"web/x"}},
  };
  CHECK(scene.h.sm.list_sessions().sessions == sessions);

  // The delay ends: beta, first in line, holds db/a.
  scene.h.tick_at(15'000);  // 12
  const wire::LockInfo db_a{"db/a", 1, {{2, "beta", 12, 15'000}}, {{3, "gamma", 12'000}}, 0};
  CHECK(scene.h.sm.list_locks("db/a").locks == std::vector<wire::LockInfo>{db_a});
  CHECK(scene.h.sm.list_sessions().sessions.at(0).locks ==
        std::vector<std::string>{"db/a", "db/b"});
}

// Nothing to list on a new machine.
TEST_CASE("listing: a new state machine lists nothing") {
  StateMachine sm;
  CHECK(sm.list_sessions().sessions.empty());
  CHECK(sm.list_locks("").locks.empty());
  CHECK(sm.session_owners().empty());
}
