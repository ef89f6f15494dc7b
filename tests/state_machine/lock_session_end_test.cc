// Locks and the end of sessions: a destroyed session releases at once; an invalidated or
// expired one leaves its slots blocked for the holder's lock-delay, ended by a later entry's
// stamp; a waiting session that ends gets its wait answered.
#include "tests/state_machine/harness.h"

using namespace conclave;
using namespace conclave::state;
using namespace conclave::state::testing;

namespace {

std::vector<uint64_t> holder_sessions(const StateMachine& sm, const std::string& name) {
  std::vector<uint64_t> out;
  if (const wire::LockRecord* lock = sm.lock(name)) {
    for (const wire::LockHolder& holder : lock->holders) out.push_back(holder.session);
  }
  return out;
}

}  // namespace

// SessionDestroy (the owner's release) frees the slots with no lock-delay, even when the
// holder asked for one: the next waiter is granted in the same entry.
TEST_CASE("session end: destroy releases with no lock-delay, the waiter is granted at once") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  h.lock("L", s1, 1, 5'000);                      // 3
  h.client(2, 1, wait_op("L", s2));               // 4
  Applied destroyed = h.leader(destroy_op(s1));   // 5
  CHECK(destroyed.ended_sessions == std::vector<uint64_t>{s1});
  CHECK(grants(destroyed) == std::vector<std::string>{"L session=2 token=5 client=2 seq=1"});
  CHECK(deferred(destroyed) ==
        std::vector<std::string>{"client=2 seq=1 granted L session=2 token=5"});
  CHECK(lock_of(h.sm, "L").blocked_until.empty());
  CHECK(holder_sessions(h.sm, "L") == std::vector<uint64_t>{s2});
  CHECK_FALSE(h.sm.next_deadline_ms());
}

// InvalidateNodeCommand ends the holder's session but keeps its slot blocked for the holder's
// lock-delay: no grant until an entry stamped at invalidation + delay or later (here a tick),
// and next_deadline_ms() says when. Meanwhile a try is refused.
TEST_CASE("session end: invalidation blocks the slot until invalidation stamp + lock-delay") {
  Harness h;
  const uint64_t s1 = h.create_session("n1", 1);  // 1
  const uint64_t s2 = h.create_session("n2", 1);  // 2
  const uint64_t s3 = h.create_session("n3", 1);  // 3
  h.lock("L", s1, 1, 3'000);                      // 4
  CHECK(h.client(2, 1, wait_op("L", s2)).waiting);  // 5

  h.now_ms = 20'000;
  Applied invalidated = h.leader(invalidate_op("n1", 1));  // 6
  CHECK(invalidated.ended_sessions == std::vector<uint64_t>{s1});
  CHECK(invalidated.grants.empty());
  CHECK(invalidated.deferred_answers.empty());
  const wire::LockRecord* lock = h.sm.lock("L");
  REQUIRE(lock != nullptr);
  CHECK(lock->holders.empty());
  CHECK(lock->blocked_until == std::vector<int64_t>{23'000});
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(23'000));
  CHECK(h.sm.list_locks("L").locks.at(0).blocked_until_ms == 23'000);

  CHECK(describe(h.leader(acquire_op("L", s3)).outcome) == "conflict: lock 'L' is held");  // 7
  CHECK(h.tick_at(22'999).grants.empty());                                                 // 8
  CHECK(session_of(h.sm, s2).waiting == std::set<std::string>{"L"});

  Applied due = h.tick_at(23'000);  // 9
  CHECK(grants(due) == std::vector<std::string>{"L session=2 token=9 client=2 seq=1"});
  CHECK(deferred(due) == std::vector<std::string>{"client=2 seq=1 granted L session=2 token=9"});
  CHECK(lock_of(h.sm, "L").blocked_until.empty());
  CHECK(lock_of(h.sm, "L").holders == std::vector<wire::LockHolder>{{2, 9, 23'000, 0}});
  CHECK(session_of(h.sm, s2).held == std::set<std::string>{"L"});
  CHECK(session_of(h.sm, s2).waiting.empty());
  CHECK_FALSE(h.sm.next_deadline_ms());
}

// Any entry stamped past the lock-delay ends it (not only ticks); its own command still runs.
TEST_CASE("session end: any later entry's stamp ends the lock-delay") {
  Harness h;
  const uint64_t s1 = h.create_session("n1");  // 1
  const uint64_t s2 = h.create_session("n2");  // 2
  h.lock("L", s1, 1, 1'000);                   // 3
  h.client(2, 1, wait_op("L", s2));            // 4
  h.now_ms = 50'000;
  h.leader(invalidate_op("n1", 0));            // 5
  h.now_ms = 51'500;
  Applied put = h.leader(put_op("k", "v"));    // 6
  CHECK(describe(put.outcome) == "put revision=1");
  CHECK(grants(put) == std::vector<std::string>{"L session=2 token=6 client=2 seq=1"});
}

// With lock-delay 0 an invalidated holder's slot goes to the next waiter in the same entry.
TEST_CASE("session end: invalidation with lock-delay 0 grants the waiter at once") {
  Harness h;
  const uint64_t s1 = h.create_session("n1");  // 1
  const uint64_t s2 = h.create_session("n2");  // 2
  h.lock("L", s1, 1, 0);                       // 3
  h.client(2, 1, wait_op("L", s2));            // 4
  Applied invalidated = h.leader(invalidate_op("n1", 1));  // 5
  CHECK(invalidated.ended_sessions == std::vector<uint64_t>{s1});
  CHECK(grants(invalidated) == std::vector<std::string>{"L session=2 token=5 client=2 seq=1"});
  CHECK(lock_of(h.sm, "L").blocked_until.empty());
}

// A TTL expiry ends the session like a failure: its slot is blocked for the holder's
// lock-delay, counted from the stamp of the entry that expired it.
TEST_CASE("session end: a TTL expiry frees the locks after the holder's lock-delay") {
  Harness h;
  h.now_ms = 10'000;
  const uint64_t s1 = h.create_session("n1", 1, 2'000);  // 1
  const uint64_t s2 = h.create_session("n2");            // 2
  h.lock("L", s1, 1, 1'500);                             // 3
  h.client(2, 1, wait_op("L", s2));                      // 4
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(12'000));

  Applied expired = h.tick_at(12'001);  // 5
  CHECK(expired.ended_sessions == std::vector<uint64_t>{s1});
  CHECK(expired.grants.empty());
  CHECK(h.sm.session(s1) == nullptr);
  CHECK(lock_of(h.sm, "L").holders.empty());
  CHECK(lock_of(h.sm, "L").blocked_until == std::vector<int64_t>{13'501});
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(13'501));

  CHECK(h.tick_at(13'500).grants.empty());  // 6
  CHECK(grants(h.tick_at(13'501)) ==
        std::vector<std::string>{"L session=2 token=7 client=2 seq=1"});  // 7
}

// A session that ends while waiting (destroyed or invalidated) leaves the queues, and each of
// its waiting requests gets a deferred not_found answer; the holders keep their slots.
TEST_CASE("session end: a waiting session that ends gets a deferred not_found answer") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  h.lock("L", s1);                                // 3
  h.lock("M", s1);                                // 4
  h.client(2, 7, wait_op("L", s2));               // 5
  h.client(2, 8, wait_op("M", s2));               // 6

  Applied destroyed = h.leader(destroy_op(s2));   // 7
  CHECK(destroyed.ended_sessions == std::vector<uint64_t>{s2});
  CHECK(deferred(destroyed) ==
        std::vector<std::string>{
            "client=2 seq=7 not_found: session 2 ended while waiting for lock 'L'",
            "client=2 seq=8 not_found: session 2 ended while waiting for lock 'M'"});
  CHECK(destroyed.grants.empty());
  CHECK(lock_of(h.sm, "L").waiters.empty());
  CHECK(lock_of(h.sm, "M").waiters.empty());
  CHECK(holder_sessions(h.sm, "L") == std::vector<uint64_t>{s1});

  const uint64_t s3 = h.create_session("gamma", 4);  // 8
  h.client(3, 1, wait_op("L", s3));                  // 9
  Applied invalidated = h.leader(invalidate_op("gamma", 4));  // 10
  CHECK(invalidated.ended_sessions == std::vector<uint64_t>{s3});
  CHECK(deferred(invalidated) ==
        std::vector<std::string>{
            "client=3 seq=1 not_found: session 8 ended while waiting for lock 'L'"});
  CHECK(lock_of(h.sm, "L").waiters.empty());
  CHECK(holder_sessions(h.sm, "L") == std::vector<uint64_t>{s1});
}

// A blocked slot of a semaphore counts as used; the other slot is still granted on release,
// and when the lock-delay ends the blocked slot simply becomes free.
TEST_CASE("session end: a blocked semaphore slot stays used, the other slots still turn over") {
  Harness h;
  const uint64_t s1 = h.create_session("n1");  // 1
  const uint64_t s2 = h.create_session("n2");  // 2
  const uint64_t s3 = h.create_session("n3");  // 3
  h.lock("S", s1, 2, 1'000);                   // 4
  h.lock("S", s2, 2);                          // 5
  h.client(3, 1, wait_op("S", s3, 2));         // 6
  h.now_ms = 20'000;
  CHECK(h.leader(invalidate_op("n1", 0)).grants.empty());  // 7
  CHECK(lock_of(h.sm, "S").blocked_until == std::vector<int64_t>{21'000});
  CHECK(grants(h.leader(release_op("S", s2))) ==
        std::vector<std::string>{"S session=3 token=8 client=3 seq=1"});  // 8
  Applied due = h.tick_at(21'000);  // 9
  CHECK(due.grants.empty());
  CHECK(lock_of(h.sm, "S").blocked_until.empty());
  CHECK(holder_sessions(h.sm, "S") == std::vector<uint64_t>{s3});
  CHECK_FALSE(h.sm.next_deadline_ms());
}

// The lock-delay that applies is the holder's own: a waiter's delay (asked when it queued)
// is the one kept when it is granted.
TEST_CASE("session end: the lock-delay is the one the holder asked for when it queued") {
  Harness h;
  const uint64_t s1 = h.create_session("n1");  // 1
  const uint64_t s2 = h.create_session("n2");  // 2
  h.lock("L", s1, 1, 0);                       // 3
  h.client(2, 1, wait_op("L", s2, 1, 2'500));  // 4
  h.leader(release_op("L", s1));               // 5
  CHECK(lock_of(h.sm, "L").holders.at(0).lock_delay_ms == 2'500);
  h.now_ms = 30'000;
  h.leader(invalidate_op("n2", 0));            // 6
  CHECK(lock_of(h.sm, "L").blocked_until == std::vector<int64_t>{32'500});
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(32'500));
}

// Two slots whose lock-delays end at the same time are both freed by one entry, granting two
// waiters in order with consecutive tokens.
TEST_CASE("session end: two lock-delays ending together free two slots in one entry") {
  Harness h;
  const uint64_t s1 = h.create_session("n1");  // 1
  const uint64_t s2 = h.create_session("n1");  // 2
  const uint64_t s3 = h.create_session("n3");  // 3
  const uint64_t s4 = h.create_session("n4");  // 4
  h.lock("S", s1, 2, 1'000);                   // 5
  h.lock("S", s2, 2, 1'000);                   // 6
  h.client(3, 1, wait_op("S", s3, 2));         // 7
  h.client(4, 1, wait_op("S", s4, 2));         // 8
  h.now_ms = 40'000;
  Applied invalidated = h.leader(invalidate_op("n1", 0));  // 9
  CHECK(invalidated.ended_sessions == std::vector<uint64_t>{s1, s2});
  CHECK(lock_of(h.sm, "S").blocked_until == std::vector<int64_t>{41'000, 41'000});
  CHECK(grants(h.tick_at(41'000)) ==
        std::vector<std::string>{"S session=3 token=10 client=3 seq=1",
                                 "S session=4 token=11 client=4 seq=1"});  // 10
  CHECK(lock_of(h.sm, "S").blocked_until.empty());
  CHECK(h.sm.last_fencing_token() == 11);
}

namespace conclave::state {
namespace {

using namespace conclave::state::testing;

// A second waiting acquire by a session already in line replaces the first request, and the
// first one gets its final answer at once (it would otherwise wait for ever).
TEST_CASE("session end: a replaced wait is answered, not orphaned") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");
  const uint64_t s2 = h.create_session("beta");
  h.lock("L", s1);
  REQUIRE(h.client(5, 1, wait_op("L", s2)).waiting);
  const Applied again = h.client(5, 2, wait_op("L", s2));
  CHECK(again.waiting);
  REQUIRE(again.deferred_answers.size() == 1);
  CHECK(again.deferred_answers[0].client_id == 5);
  CHECK(again.deferred_answers[0].sequence == 1);
  CHECK(again.deferred_answers[0].outcome.code == ErrorCode::invalid_argument);
  CHECK_THAT(again.deferred_answers[0].outcome.message, Catch::Contains("replaced"));
  // A retry of the replaced request gets that answer, not "waiting".
  const Applied retry = h.client(5, 1, wait_op("L", s2));
  CHECK(retry.duplicate);
  CHECK_FALSE(retry.waiting);
  CHECK(retry.outcome.code == ErrorCode::invalid_argument);
}

// One invalidation ending both the holder (no lock-delay) and a waiter of the same node never
// grants the slot to the waiter: its wait ends before any slot is freed.
TEST_CASE("session end: an invalidation never grants a slot to a session it also ends") {
  Harness h;
  const uint64_t holder = h.create_session("alpha", 7);
  const uint64_t waiter = h.create_session("alpha", 7);
  const uint64_t other = h.create_session("beta");
  h.lock("L", holder);
  REQUIRE(h.client(5, 1, wait_op("L", waiter)).waiting);
  REQUIRE(h.client(6, 1, wait_op("L", other)).waiting);
  const Applied ended = h.leader(invalidate_op("alpha", 7));
  // The slot goes to the next waiter that still exists: beta's.
  CHECK(grants(ended) == std::vector<std::string>{"L session=" + std::to_string(other) +
                                                  " token=" + std::to_string(ended.index) +
                                                  " client=6 seq=1"});
  bool waiter_told = false;
  for (const DeferredAnswer& answer : ended.deferred_answers) {
    if (answer.client_id == 5) {
      waiter_told = true;
      CHECK(answer.outcome.code == ErrorCode::not_found);
    }
  }
  CHECK(waiter_told);
}

// A TTL session expires at renewed + ttl exactly: the deadline next_deadline_ms() reports.
TEST_CASE("session end: a TTL session expires at its deadline, as reported") {
  Harness h;
  const uint64_t session = h.create_session("alpha", 1, 5000);
  const int64_t deadline = *h.sm.next_deadline_ms();
  h.tick_at(deadline - 1);
  CHECK(h.sm.session(session) != nullptr);
  const Applied at = h.tick_at(deadline);
  CHECK(h.sm.session(session) == nullptr);
  CHECK(at.ended_sessions == std::vector<uint64_t>{session});
}

}  // namespace
}  // namespace conclave::state

namespace conclave::state {
namespace {

using namespace conclave::state::testing;

// Found by the simulator (seed 100057 of the lock workload): an agent cut off while its acquire
// was granted re-sends the acquire after healing. The remembered "granted" answer must not be
// replayed once the session has ended and the slot moved on.
TEST_CASE("session end: a retried acquire is not told 'granted' once the grant is gone") {
  Harness h;
  const uint64_t holder = h.create_session("alpha", 7);
  const uint64_t other = h.create_session("beta");
  const Applied granted = h.client(5, 1, wait_op("L", holder, 1, 1000));
  REQUIRE(granted.outcome.code == ErrorCode::ok);
  // Its agent is seen failed; after the lock-delay the slot goes to beta.
  h.leader(invalidate_op("alpha", 7));
  REQUIRE(h.client(6, 1, wait_op("L", other)).waiting);
  h.tick_at(h.now_ms + 1000);
  REQUIRE(lock_of(h.sm, "L").holders.at(0).session == other);
  const Applied retry = h.client(5, 1, wait_op("L", holder, 1, 1000));
  CHECK(retry.duplicate);
  CHECK(retry.outcome.code == ErrorCode::not_found);
  CHECK_THAT(retry.outcome.message, Catch::Contains("no longer held"));
  // While still held, the retry is answered with the same grant.
  const Applied beta_retry = h.client(6, 1, wait_op("L", other));
  CHECK(beta_retry.outcome.code == ErrorCode::ok);
}

}  // namespace
}  // namespace conclave::state
