// Locks: grants and fencing tokens, try vs wait, the FIFO queue, semaphores, argument errors,
// re-acquire, release and cancel.
#include "tests/state_machine/harness.h"

using namespace conclave;
using namespace conclave::state;
using namespace conclave::state::testing;

namespace {

std::vector<uint64_t> waiter_sessions(const StateMachine& sm, const std::string& name) {
  std::vector<uint64_t> out;
  if (const wire::LockRecord* lock = sm.lock(name)) {
    for (const wire::LockWaiter& waiter : lock->waiters) out.push_back(waiter.session);
  }
  return out;
}

std::vector<uint64_t> holder_sessions(const StateMachine& sm, const std::string& name) {
  std::vector<uint64_t> out;
  if (const wire::LockRecord* lock = sm.lock(name)) {
    for (const wire::LockHolder& holder : lock->holders) out.push_back(holder.session);
  }
  return out;
}

}  // namespace

// A free lock is granted at once with a LockEvent carrying a fencing token equal to the entry
// index (the first grant); the lock and the session both record the hold.
TEST_CASE("locks: acquire grants a free lock with a token at least the entry index") {
  Harness h;
  h.put("x", "1");                                   // 1
  h.put("x", "2");                                   // 2
  const uint64_t session = h.create_session("alpha");  // 3
  Applied granted = h.leader(acquire_op("L", session, 1, false, 750));  // 4
  CHECK(describe(granted.outcome) == "granted L session=3 token=4");
  CHECK_FALSE(granted.waiting);
  CHECK(granted.grants.empty());  // grants lists waiters woken up, not the asker
  CHECK(granted.deferred_answers.empty());
  CHECK(h.sm.last_fencing_token() == 4);

  const wire::LockRecord* lock = h.sm.lock("L");
  REQUIRE(lock != nullptr);
  CHECK(lock->name == "L");
  CHECK(lock->limit == 1);
  CHECK(lock->holders == std::vector<wire::LockHolder>{{3, 4, 10'000, 750}});
  CHECK(lock->waiters.empty());
  CHECK(lock->blocked_until.empty());
  CHECK(session_of(h.sm, session).held == std::set<std::string>{"L"});
  CHECK(session_of(h.sm, session).waiting.empty());
}

// Tokens strictly increase across grants and locks, and are at least the entry index: two
// grants in one entry take index and index + 1, so the next entry's grant takes index + 2.
TEST_CASE("locks: fencing tokens strictly increase across grants and locks") {
  Harness h;
  const uint64_t s1 = h.create_session("n1");  // 1
  const uint64_t s2 = h.create_session("n2");  // 2
  const uint64_t s3 = h.create_session("n3");  // 3
  const uint64_t s4 = h.create_session("n4");  // 4
  CHECK(h.lock("A", s1) == 5);                 // 5
  CHECK(h.lock("B", s1) == 6);                 // 6
  CHECK(h.client(2, 1, wait_op("A", s2)).waiting);  // 7
  CHECK(h.client(3, 1, wait_op("B", s3)).waiting);  // 8

  Applied destroyed = h.leader(destroy_op(s1));  // 9: frees A and B (no lock-delay)
  CHECK(grants(destroyed) == std::vector<std::string>{"A session=2 token=9 client=2 seq=1",
                                                      "B session=3 token=10 client=3 seq=1"});
  CHECK(h.sm.last_fencing_token() == 10);
  CHECK(h.lock("C", s4) == 11);  // index 10, but 10 is taken
  CHECK(h.lock("D", s4) == 12);  // index 11
  h.put("x", "1");               // 12
  h.put("x", "2");               // 13
  CHECK(h.lock("E", s4) == 14);  // index 14 > last + 1
  CHECK(h.sm.last_fencing_token() == 14);
}

// A try-acquire (wait = false) of a held lock is refused with conflict naming the holder (its
// session, node and token), and leaves no trace on the lock or the asker's session.
TEST_CASE("locks: a try on a held lock is a conflict naming the holder") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  CHECK(h.lock("L", s1) == 3);                    // 3
  Applied refused = h.leader(acquire_op("L", s2));
  CHECK(describe(refused.outcome) ==
        "conflict: lock 'L' is held (held by session 1 of node alpha, token 3)");
  CHECK_FALSE(refused.waiting);
  CHECK(holder_sessions(h.sm, "L") == std::vector<uint64_t>{s1});
  CHECK(waiter_sessions(h.sm, "L").empty());
  CHECK(session_of(h.sm, s2).held.empty());
  CHECK(session_of(h.sm, s2).waiting.empty());
  CHECK(h.sm.last_fencing_token() == 3);
}

// A waiting acquire on a held lock answers Applied.waiting; the release grants it, and the
// releasing entry carries the grant and the deferred answer for the waiter's request.
TEST_CASE("locks: a waiting acquire is granted by the holder's release") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  h.lock("L", s1);                                // 3
  Applied queued = h.client(20, 1, wait_op("L", s2, 1, 400));  // 4
  CHECK(queued.waiting);
  CHECK(describe(queued.outcome) == "ok");
  CHECK(queued.grants.empty());
  REQUIRE(h.sm.lock("L") != nullptr);
  CHECK(lock_of(h.sm, "L").waiters == std::vector<wire::LockWaiter>{{2, 10'000, 400, 20, 1}});
  CHECK(session_of(h.sm, s2).waiting == std::set<std::string>{"L"});

  h.now_ms = 11'000;
  Applied released = h.leader(release_op("L", s1));  // 5
  CHECK(describe(released.outcome) == "ok");
  CHECK(grants(released) == std::vector<std::string>{"L session=2 token=5 client=20 seq=1"});
  CHECK(deferred(released) ==
        std::vector<std::string>{"client=20 seq=1 granted L session=2 token=5"});
  CHECK(lock_of(h.sm, "L").holders == std::vector<wire::LockHolder>{{2, 5, 11'000, 400}});
  CHECK(lock_of(h.sm, "L").waiters.empty());
  CHECK(session_of(h.sm, s2).held == std::set<std::string>{"L"});
  CHECK(session_of(h.sm, s2).waiting.empty());
  CHECK(session_of(h.sm, s1).held.empty());
}

// FIFO: three waiters are granted in the order they queued, exactly one per release; the
// last release leaves the lock idle and it is forgotten.
TEST_CASE("locks: waiters are granted first in, first out, one per release") {
  Harness h;
  const uint64_t s1 = h.create_session("n1");  // 1
  const uint64_t s2 = h.create_session("n2");  // 2
  const uint64_t s3 = h.create_session("n3");  // 3
  const uint64_t s4 = h.create_session("n4");  // 4
  h.lock("L", s1);                             // 5
  h.client(2, 1, wait_op("L", s2));            // 6
  h.client(3, 1, wait_op("L", s3));            // 7
  h.client(4, 1, wait_op("L", s4));            // 8
  CHECK(waiter_sessions(h.sm, "L") == std::vector<uint64_t>{s2, s3, s4});

  CHECK(grants(h.leader(release_op("L", s1))) ==
        std::vector<std::string>{"L session=2 token=9 client=2 seq=1"});
  CHECK(waiter_sessions(h.sm, "L") == std::vector<uint64_t>{s3, s4});
  CHECK(grants(h.leader(release_op("L", s2))) ==
        std::vector<std::string>{"L session=3 token=10 client=3 seq=1"});
  CHECK(waiter_sessions(h.sm, "L") == std::vector<uint64_t>{s4});
  CHECK(grants(h.leader(release_op("L", s3))) ==
        std::vector<std::string>{"L session=4 token=11 client=4 seq=1"});
  CHECK(waiter_sessions(h.sm, "L").empty());
  Applied last = h.leader(release_op("L", s4));
  CHECK(describe(last.outcome) == "ok");
  CHECK(last.grants.empty());
  CHECK(h.sm.lock("L") == nullptr);
  CHECK(h.sm.list_locks("").locks.empty());
}

// A semaphore of limit N has N holders at once; the N+1th is refused (try, naming every
// holder) or queued (wait), and each release grants one waiter in order.
TEST_CASE("locks: a semaphore grants limit holders and queues the rest") {
  Harness h;
  std::vector<uint64_t> s;
  for (int i = 1; i <= 5; ++i) s.push_back(h.create_session("n" + std::to_string(i)));  // 1..5
  CHECK(h.lock("S", s[0], 3) == 6);
  CHECK(h.lock("S", s[1], 3) == 7);
  CHECK(h.lock("S", s[2], 3) == 8);
  Applied refused = h.leader(acquire_op("S", s[3], 3));  // 9
  CHECK(describe(refused.outcome) ==
        "conflict: lock 'S' is held (held by session 1 of node n1, token 6, session 2 of node "
        "n2, token 7, session 3 of node n3, token 8)");
  CHECK(h.client(4, 1, wait_op("S", s[3], 3)).waiting);  // 10
  CHECK(h.client(5, 1, wait_op("S", s[4], 3)).waiting);  // 11

  CHECK(grants(h.leader(release_op("S", s[1]))) ==
        std::vector<std::string>{"S session=4 token=12 client=4 seq=1"});
  CHECK(holder_sessions(h.sm, "S") == std::vector<uint64_t>{s[0], s[2], s[3]});
  CHECK(grants(h.leader(release_op("S", s[0]))) ==
        std::vector<std::string>{"S session=5 token=13 client=5 seq=1"});
  CHECK(h.leader(release_op("S", s[2])).grants.empty());
  CHECK(holder_sessions(h.sm, "S") == std::vector<uint64_t>{s[3], s[4]});
  CHECK(lock_of(h.sm, "S").limit == 3);
}

// Every user of a lock must agree on its limit: a different limit is refused with
// invalid_argument, for a try and for a wait, and nothing is queued.
TEST_CASE("locks: a limit different from the lock's is refused") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  h.lock("L", s1);                                // 3
  CHECK(describe(h.leader(acquire_op("L", s2, 2)).outcome) ==
        "invalid_argument: lock 'L' is in use with 1 slot; asked for 2 (every holder must "
        "agree on -n)");
  Applied waiting = h.client(9, 1, wait_op("L", s2, 2));
  CHECK(waiting.outcome.code == ErrorCode::invalid_argument);
  CHECK_FALSE(waiting.waiting);
  CHECK(waiter_sessions(h.sm, "L").empty());
  CHECK(session_of(h.sm, s2).waiting.empty());

  h.lock("S", s1, 3);
  CHECK(describe(h.leader(acquire_op("S", s2, 1)).outcome) ==
        "invalid_argument: lock 'S' is in use with 3 slots; asked for 1 (every holder must "
        "agree on -n)");
  CHECK(holder_sessions(h.sm, "S") == std::vector<uint64_t>{s1});
}

// Argument bounds: limit 1..1000, lock-delay at most 60 s, a non-empty name. A refused
// acquire creates no lock and takes no token; the bounds themselves are accepted.
TEST_CASE("locks: limit 0, limit over 1000, lock-delay over 60 s and an empty name are refused") {
  Harness h;
  const uint64_t s = h.create_session("alpha");  // 1
  CHECK(describe(h.leader(acquire_op("L", s, 0)).outcome) ==
        "invalid_argument: a lock has 1 to 1000 slots; asked for 0");
  CHECK(describe(h.leader(acquire_op("L", s, 1001)).outcome) ==
        "invalid_argument: a lock has 1 to 1000 slots; asked for 1001");
  CHECK(describe(h.leader(acquire_op("L", s, 1, false, 60'001)).outcome) ==
        "invalid_argument: a lock-delay is at most 60000 ms; asked for 60001");
  CHECK(describe(h.leader(acquire_op("", s)).outcome) ==
        "invalid_argument: a lock needs a name");
  CHECK(h.sm.list_locks("").locks.empty());
  CHECK(session_of(h.sm, s).held.empty());
  CHECK(h.sm.last_fencing_token() == 0);

  CHECK(describe(h.leader(acquire_op("L", s, 1000, false, 60'000)).outcome) ==
        "granted L session=1 token=6");
  CHECK(lock_of(h.sm, "L").limit == 1000);
  CHECK(lock_of(h.sm, "L").holders.at(0).lock_delay_ms == 60'000);
}

// An acquire for a session that does not exist (or ended) is not_found, and creates no lock.
TEST_CASE("locks: acquire for an unknown session is not_found") {
  Harness h;
  CHECK(describe(h.leader(acquire_op("L", 99)).outcome) ==
        "not_found: session 99 does not exist (it ended)");
  CHECK(describe(h.client(5, 1, wait_op("L", 99)).outcome) ==
        "not_found: session 99 does not exist (it ended)");
  CHECK(h.sm.lock("L") == nullptr);
}

// The holder asking again (try or wait) gets its existing grant: the same token, no new hold.
TEST_CASE("locks: re-acquire by the holding session returns the same token") {
  Harness h;
  const uint64_t s = h.create_session("alpha");  // 1
  CHECK(h.lock("L", s) == 2);                    // 2
  h.put("x", "y");                               // 3
  CHECK(h.lock("L", s) == 2);                    // 4
  Applied again = h.client(5, 1, wait_op("L", s));
  CHECK(describe(again.outcome) == "granted L session=1 token=2");
  CHECK_FALSE(again.waiting);
  CHECK(lock_of(h.sm, "L").holders.size() == 1);
  CHECK(h.sm.last_fencing_token() == 2);
}

// Release by a session that holds no slot (another session, a waiter, a lock that does not
// exist) is not_found; by an unknown session too. The holder keeps its slot, the waiter its place.
TEST_CASE("locks: release by a non-holder is not_found") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  const uint64_t s3 = h.create_session("gamma");  // 3
  h.lock("L", s1);                                // 4
  h.client(3, 1, wait_op("L", s3));               // 5
  CHECK(describe(h.leader(release_op("L", s2)).outcome) ==
        "not_found: session 2 holds no slot of lock 'L'");
  CHECK(describe(h.leader(release_op("L", s3)).outcome) ==
        "not_found: session 3 holds no slot of lock 'L'");
  CHECK(describe(h.leader(release_op("M", s1)).outcome) ==
        "not_found: session 1 holds no slot of lock 'M'");
  CHECK(describe(h.leader(release_op("L", 99)).outcome) ==
        "not_found: session 99 does not exist");
  CHECK(lock_of(h.sm, "L").holders == std::vector<wire::LockHolder>{{1, 4, 10'000, 0}});
  CHECK(waiter_sessions(h.sm, "L") == std::vector<uint64_t>{s3});
  CHECK(session_of(h.sm, s1).held == std::set<std::string>{"L"});
  CHECK(session_of(h.sm, s3).waiting == std::set<std::string>{"L"});
}

// LockCancel of a waiter takes it out of the queue and answers its waiting request with
// timed_out (a deferred answer); the next release skips it.
TEST_CASE("locks: cancel of a waiter removes it and answers the wait with timed_out") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  const uint64_t s3 = h.create_session("gamma");  // 3
  h.lock("L", s1);                                // 4
  h.client(5, 1, wait_op("L", s2));               // 5
  h.client(6, 1, wait_op("L", s3));               // 6

  Applied cancelled = h.client(5, 2, cancel_op("L", s2));  // 7
  CHECK(describe(cancelled.outcome) == "cancel granted=0 token=0");
  CHECK(deferred(cancelled) ==
        std::vector<std::string>{"client=5 seq=1 timed_out: stopped waiting for lock 'L'"});
  CHECK(cancelled.grants.empty());
  CHECK(waiter_sessions(h.sm, "L") == std::vector<uint64_t>{s3});
  CHECK(session_of(h.sm, s2).waiting.empty());

  CHECK(grants(h.leader(release_op("L", s1))) ==
        std::vector<std::string>{"L session=3 token=8 client=6 seq=1"});
}

// LockCancel that arrives after the wait ended in a grant reports the grant and its token;
// the grant stands.
TEST_CASE("locks: cancel after the grant reports granted with the token") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  h.lock("L", s1);                                // 3
  h.client(5, 1, wait_op("L", s2));               // 4
  h.leader(release_op("L", s1));                  // 5: s2 granted token 5
  Applied late = h.client(5, 2, cancel_op("L", s2));
  CHECK(describe(late.outcome) == "cancel granted=1 token=5");
  CHECK(late.deferred_answers.empty());
  CHECK(holder_sessions(h.sm, "L") == std::vector<uint64_t>{s2});
  CHECK(session_of(h.sm, s2).held == std::set<std::string>{"L"});
}

// LockCancel when there is nothing to cancel (no such lock, not a waiter, unknown session)
// answers not granted and changes nothing.
TEST_CASE("locks: cancel with nothing to cancel answers not granted") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");
  const uint64_t s2 = h.create_session("beta");
  h.lock("L", s1);
  const uint64_t hash = h.sm.state_hash();
  Applied none = h.leader(cancel_op("M", s1));
  CHECK(describe(none.outcome) == "cancel granted=0 token=0");
  CHECK(none.deferred_answers.empty());
  CHECK(describe(h.leader(cancel_op("L", s2)).outcome) == "cancel granted=0 token=0");
  CHECK(describe(h.leader(cancel_op("L", 99)).outcome) == "cancel granted=0 token=0");
  CHECK(holder_sessions(h.sm, "L") == std::vector<uint64_t>{s1});
  // Only the applied index (part of the hash) moved: compare with a twin at the same index.
  Harness twin;
  const uint64_t t1 = twin.create_session("alpha");
  twin.create_session("beta");
  twin.lock("L", t1);
  twin.apply_data("");
  twin.apply_data("");
  twin.apply_data("");
  CHECK(h.sm.state_hash() == twin.sm.state_hash());
  CHECK(hash != h.sm.state_hash());
}

// A session already in the queue that asks again keeps its place; the newer request is the one
// the grant answers.
TEST_CASE("locks: a queued session asking again keeps its place, the newer request is answered") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  const uint64_t s3 = h.create_session("gamma");  // 3
  h.lock("L", s1);                                // 4
  h.client(5, 1, wait_op("L", s2));               // 5
  h.client(6, 1, wait_op("L", s3));               // 6
  CHECK(h.client(5, 2, wait_op("L", s2)).waiting);  // 7
  CHECK(waiter_sessions(h.sm, "L") == std::vector<uint64_t>{s2, s3});
  CHECK(grants(h.leader(release_op("L", s1))) ==
        std::vector<std::string>{"L session=2 token=8 client=5 seq=2"});
}

// A try-acquire (wait = false) must never wait: "queue when no slot is free; else fail at
// once" (wire/command.h), "wait_ms 0: try once (ErrorCode::conflict when held)"
// (wire/client_messages.h). A session already queued for the lock that sends a try must get
// conflict, and its queued request must keep its place and still be the one the grant answers.
TEST_CASE("locks: a try by a session already queued fails at once and leaves the queue alone") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  h.lock("L", s1);                                // 3
  REQUIRE(h.client(5, 1, wait_op("L", s2)).waiting);  // 4
  Applied tried = h.client(5, 2, acquire_op("L", s2));  // 5: wait = false
  CHECK_FALSE(tried.waiting);
  CHECK(describe(tried.outcome) ==
        "conflict: lock 'L' is held (held by session 1 of node alpha, token 3)");
  CHECK(lock_of(h.sm, "L").waiters == std::vector<wire::LockWaiter>{{2, 10'000, 0, 5, 1}});
  CHECK(grants(h.leader(release_op("L", s1))) ==
        std::vector<std::string>{"L session=2 token=6 client=5 seq=1"});
}

// A release names the hold it means (its token): one meant for an earlier hold of the same
// session, applied late (a background release after a timeout, re-sent as a new request),
// must not end the session's newer hold; the waiter must not be granted beside it.
TEST_CASE("locks: a release naming an earlier hold's token leaves the newer hold alone") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  const uint64_t first = h.lock("L", s1);         // 3
  REQUIRE(h.leader(release_op("L", s1, first)).outcome.code == ErrorCode::ok);  // 4
  const uint64_t second = h.lock("L", s1);        // 5
  REQUIRE(second > first);
  h.client(3, 1, wait_op("L", s2));               // 6: waits behind it
  // The old hold's release again, applied late.
  CHECK(describe(h.leader(release_op("L", s1, first)).outcome) ==
        "not_found: session 1 holds no slot of lock 'L' granted with token " +
            std::to_string(first));
  CHECK(lock_of(h.sm, "L").holders.size() == 1);
  CHECK(lock_of(h.sm, "L").holders[0].token == second);
  CHECK(waiter_sessions(h.sm, "L") == std::vector<uint64_t>{s2});
  // The right token (or none) releases it, and the waiter gets it.
  CHECK(h.leader(release_op("L", s1, second)).outcome.code == ErrorCode::ok);
  CHECK(lock_of(h.sm, "L").holders[0].session == s2);
}
