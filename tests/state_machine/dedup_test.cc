// Exactly-once for client requests: a retried (client_id, sequence) takes effect once and is
// answered as the first time; ack_below forgets; waiting acquires answer their final outcome;
// the table's bounds (answers per client, idle clients, number of clients).
#include "tests/state_machine/harness.h"

using namespace conclave;
using namespace conclave::state;
using namespace conclave::state::testing;

// The same (client, sequence) twice: the second copy changes nothing (same revision, same
// version) and is answered like the first, even if its content differs. Another client's
// same sequence number, and the same client's next sequence, are new requests.
TEST_CASE("dedup: the same (client, sequence) applied twice takes effect once") {
  Harness h;
  Applied first = h.client(7, 1, put_op("k", "v"));
  CHECK(describe(first.outcome) == "put revision=1");
  CHECK_FALSE(first.duplicate);

  h.now_ms = 11'000;
  Applied retry = h.client(7, 1, put_op("k", "v"));
  CHECK(retry.duplicate);
  CHECK(describe(retry.outcome) == "put revision=1");
  CHECK(h.sm.revision() == 1);
  CHECK(entry_of(h.sm, "k") == wire::KvEntry{"k", "v", 1, 1, 1});
  CHECK(h.sm.duplicate_commands() == 1);

  Applied changed = h.client(7, 1, put_op("k", "other"));
  CHECK(changed.duplicate);
  CHECK(describe(changed.outcome) == "put revision=1");
  CHECK(entry_of(h.sm, "k").value == "v");

  CHECK(describe(h.client(7, 2, put_op("k", "w")).outcome) == "put revision=2");
  CHECK(describe(h.client(8, 1, put_op("k", "z")).outcome) == "put revision=3");
  CHECK(h.sm.duplicate_commands() == 2);
  CHECK(h.sm.time_ms() == 11'000);  // a duplicate still moves the clock
}

// Leader commands (client_id 0) are never deduplicated: two identical ones both apply.
TEST_CASE("dedup: leader commands without a client id are not deduplicated") {
  Harness h;
  const wire::Command command{10'000, 0, 0, 0, put_op("k", "v")};
  CHECK(describe(h.apply(command).outcome) == "put revision=1");
  Applied again = h.apply(command);
  CHECK_FALSE(again.duplicate);
  CHECK(describe(again.outcome) == "put revision=2");
  CHECK(h.sm.duplicate_commands() == 0);
}

// A refused request's retry gets the same refusal even after the condition changed: it is
// never executed again (here: the lock became free, yet the retry does not take it).
TEST_CASE("dedup: a retried refused request is answered with the same error, not re-run") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  h.lock("L", s1);                                // 3
  Applied refused = h.client(9, 1, acquire_op("L", s2));  // 4
  const std::string answer = describe(refused.outcome);
  CHECK(answer == "conflict: lock 'L' is held (held by session 1 of node alpha, token 3)");
  h.leader(release_op("L", s1));  // 5
  REQUIRE(h.sm.lock("L") == nullptr);
  Applied retry = h.client(9, 1, acquire_op("L", s2));  // 6
  CHECK(retry.duplicate);
  CHECK(describe(retry.outcome) == answer);
  CHECK(h.sm.lock("L") == nullptr);
  CHECK(session_of(h.sm, s2).held.empty());
}

// ack_below = n: the client has every answer below n, so they are forgotten. A later copy of a
// forgotten sequence is a no-op answered with an error; answers at or above n are still kept.
TEST_CASE("dedup: ack_below forgets answers, and a forgotten request does not apply again") {
  Harness h;
  CHECK(describe(h.client(7, 1, put_op("a", "1")).outcome) == "put revision=1");
  CHECK(describe(h.client(7, 2, put_op("b", "2")).outcome) == "put revision=2");
  CHECK(describe(h.client(7, 3, put_op("c", "3"), /*ack_below=*/2).outcome) == "put revision=3");

  Applied forgotten = h.client(7, 1, put_op("a", "1"));
  CHECK(forgotten.duplicate);
  CHECK(describe(forgotten.outcome) ==
        "invalid_argument: this request was answered and acknowledged already");
  CHECK(h.sm.revision() == 3);
  CHECK(entry_of(h.sm, "a") == wire::KvEntry{"a", "1", 1, 1, 1});

  Applied kept = h.client(7, 2, put_op("b", "2"));
  CHECK(kept.duplicate);
  CHECK(describe(kept.outcome) == "put revision=2");

  // A retry may itself carry a newer ack_below: it forgets before it is looked up.
  Applied acked = h.client(7, 2, put_op("b", "2"), /*ack_below=*/3);
  CHECK(acked.duplicate);
  CHECK(acked.outcome.code == ErrorCode::invalid_argument);
  CHECK(describe(h.client(7, 3, put_op("c", "3")).outcome) == "put revision=3");
  CHECK(h.sm.revision() == 3);
  CHECK(entry_of(h.sm, "b") == wire::KvEntry{"b", "2", 2, 2, 1});
  CHECK(h.sm.duplicate_commands() == 4);
}

// A waiting acquire's retry reports waiting (and queues nothing more); once granted, a retry
// returns the grant with its token.
TEST_CASE("dedup: a waiting acquire's retry reports waiting, and the grant after it") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  h.lock("L", s1);                                // 3
  CHECK(h.client(9, 1, wait_op("L", s2)).waiting);  // 4

  Applied retry = h.client(9, 1, wait_op("L", s2));  // 5
  CHECK(retry.duplicate);
  CHECK(retry.waiting);
  CHECK(describe(retry.outcome) == "ok");
  CHECK(lock_of(h.sm, "L").waiters.size() == 1);

  CHECK(grants(h.leader(release_op("L", s1))) ==
        std::vector<std::string>{"L session=2 token=6 client=9 seq=1"});  // 6

  Applied after = h.client(9, 1, wait_op("L", s2));  // 7
  CHECK(after.duplicate);
  CHECK_FALSE(after.waiting);
  CHECK(describe(after.outcome) == "granted L session=2 token=6");
  CHECK(after.grants.empty());
  CHECK(lock_of(h.sm, "L").holders.size() == 1);
  CHECK(h.sm.last_fencing_token() == 6);
}

// The final answer of a wait that ended without a grant is what a retry gets: timed_out after
// a cancel, not_found after the session ended.
TEST_CASE("dedup: a retry of a cancelled or orphaned wait gets its final answer") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  const uint64_t s3 = h.create_session("gamma");  // 3
  h.lock("L", s1);                                // 4
  h.client(9, 1, wait_op("L", s2));               // 5
  h.client(9, 2, wait_op("L", s3));               // 6
  h.client(9, 3, cancel_op("L", s2));             // 7
  h.leader(destroy_op(s3));                       // 8

  Applied cancelled = h.client(9, 1, wait_op("L", s2));
  CHECK(cancelled.duplicate);
  CHECK_FALSE(cancelled.waiting);
  CHECK(describe(cancelled.outcome) == "timed_out: stopped waiting for lock 'L'");
  Applied orphaned = h.client(9, 2, wait_op("L", s3));
  CHECK(orphaned.duplicate);
  CHECK_FALSE(orphaned.waiting);
  CHECK(describe(orphaned.outcome) ==
        "not_found: session 3 ended while waiting for lock 'L'");
  CHECK(lock_of(h.sm, "L").waiters.empty());
}

// A client may hold 10000 unacknowledged answers; the next new request is refused
// (unavailable) and not applied, until it acknowledges some. Old answers are still served.
TEST_CASE("dedup: a client with 10000 unacknowledged answers is refused until it acks") {
  Harness h;
  for (uint64_t seq = 1; seq <= kMaxAnswersPerClient; ++seq) {
    Applied applied = h.client(7, seq, put_op("k", std::to_string(seq)));
    REQUIRE(applied.outcome.code == ErrorCode::ok);
  }
  CHECK(h.sm.revision() == 10'000);
  Applied full = h.client(7, 10'001, put_op("k", "over"));
  CHECK(describe(full.outcome) ==
        "unavailable: this agent has too many requests whose answers it has not acknowledged "
        "(10000 answers or 4194304 bytes); retry later");
  CHECK_FALSE(full.duplicate);
  CHECK(h.sm.revision() == 10'000);
  CHECK(entry_of(h.sm, "k").value == "10000");

  CHECK(describe(h.client(7, 5'000, put_op("k", "5000")).outcome) == "put revision=5000");
  CHECK(describe(h.client(7, 10'001, put_op("k", "over"), /*ack_below=*/2).outcome) ==
        "put revision=10001");
  CHECK(describe(h.client(7, 1, put_op("k", "1")).outcome) ==
        "invalid_argument: this request was answered and acknowledged already");
}

// A client idle for an hour is forgotten at the next sweep (when the clock crosses a minute):
// a retry from it would apply again. A client active meanwhile keeps its answers.
TEST_CASE("dedup: clients idle for an hour are forgotten, active ones are kept") {
  Harness h;
  h.now_ms = 10'000;
  h.client(7, 1, put_op("a", "1"));  // revision 1
  h.client(8, 1, put_op("b", "1"));  // revision 2
  h.now_ms = 3'000'000;
  h.client(8, 2, put_op("b", "2"));  // revision 3; client 8 active at 3'000'000
  h.tick_at(3'610'000);              // client 7: 10'000 + 3'600'000 <= now

  Applied remembered = h.client(8, 1, put_op("b", "1"));
  CHECK(remembered.duplicate);
  CHECK(describe(remembered.outcome) == "put revision=2");
  Applied forgotten = h.client(7, 1, put_op("a", "1"));
  CHECK_FALSE(forgotten.duplicate);
  CHECK(describe(forgotten.outcome) == "put revision=4");
}

// At most 10000 clients are remembered: a new one evicts the least recently active.
TEST_CASE("dedup: the 10001st client evicts the least recently active one") {
  Harness h;
  for (uint64_t client = 1; client <= kMaxDedupClients; ++client) {
    h.now_ms = 10'000 + static_cast<int64_t>(client);
    REQUIRE(h.client(client, 1, put_op("k", "v")).outcome.code == ErrorCode::ok);
  }
  h.now_ms = 30'000;
  CHECK(describe(h.client(10'001, 1, put_op("k", "v")).outcome) == "put revision=10001");
  // Client 1 was evicted; client 2 is still known (and is now recently active).
  Applied two = h.client(2, 1, put_op("k", "v"));
  CHECK(two.duplicate);
  CHECK(describe(two.outcome) == "put revision=2");
  Applied one = h.client(1, 1, put_op("k", "v"));
  CHECK_FALSE(one.duplicate);
  CHECK(describe(one.outcome) == "put revision=10002");
  // Re-admitting client 1 evicted client 3, the least recently active now.
  CHECK_FALSE(h.client(3, 1, put_op("k", "v")).duplicate);
  CHECK(h.sm.revision() == 10'003);
}
