// The key/value store: revisions, per-key create/mod revision and version, the legacy read
// through the log, and fenced writes guarded by a lock's fencing token.
#include "tests/state_machine/harness.h"

using namespace conclave;
using namespace conclave::state;
using namespace conclave::state::testing;

// Every put gets the next store-wide revision; a key keeps the revision that created it, the
// revision of its last change, and how many puts it has seen.
TEST_CASE("kv: puts answer KvPutResponse with increasing revisions") {
  Harness h;
  CHECK(describe(h.leader(put_op("a", "1")).outcome) == "put revision=1");
  CHECK(describe(h.leader(put_op("b", "2")).outcome) == "put revision=2");
  CHECK(describe(h.leader(put_op("a", "3")).outcome) == "put revision=3");
  CHECK(describe(h.leader(put_op("a", "")).outcome) == "put revision=4");

  CHECK(h.sm.revision() == 4);
  CHECK(h.sm.key_count() == 2);
  REQUIRE(h.sm.get("a"));
  CHECK(entry_of(h.sm, "a") == wire::KvEntry{"a", "", 1, 4, 3});
  REQUIRE(h.sm.get("b"));
  CHECK(entry_of(h.sm, "b") == wire::KvEntry{"b", "2", 2, 2, 1});
  CHECK_FALSE(h.sm.get("c"));
}

// Only a put that is applied takes a revision: sessions, locks, ticks and refused writes do not.
TEST_CASE("kv: the revision counts applied puts only") {
  Harness h;
  CHECK(h.put("k", "v1") == 1);
  const uint64_t session = h.create_session("alpha");
  h.lock("L", session);
  h.tick_at(20'000);
  CHECK(describe(h.leader(renew_op(session)).outcome) == "ok");
  Applied refused = h.leader(fenced_put_op("k", "v2", "L", 999));
  CHECK(refused.outcome.code == ErrorCode::conflict);
  CHECK(h.sm.revision() == 1);
  CHECK(h.put("k", "v3") == 2);
  CHECK(entry_of(h.sm, "k") == wire::KvEntry{"k", "v3", 1, 2, 2});
}

// GetCommand (protocol version 1 read through the log) answers the value with its revisions,
// or found=false, and changes nothing.
TEST_CASE("kv: the legacy GetCommand reads through the log") {
  Harness h;
  h.put("k", "v");
  h.put("other", "x");
  h.put("k", "w");
  Applied read = h.leader(get_op("k"));
  CHECK(describe(read.outcome) == "get found=1 value=w create=1 mod=3");
  CHECK(body_as<wire::KvGetResponse>(read.outcome) == wire::KvGetResponse{true, "w", 1, 3, 2});

  Applied missing = h.leader(get_op("nothing"));
  CHECK(body_as<wire::KvGetResponse>(missing.outcome) ==
        wire::KvGetResponse{false, "", 0, 0, 0});
  CHECK(h.sm.revision() == 3);
  CHECK(h.sm.key_count() == 2);
}

// A fenced put applies while its token is the token of a holder of the lock; after the
// release the same token is refused with conflict and the write is not applied.
TEST_CASE("kv: a fenced put applies while the token holds the lock, not after the release") {
  Harness h;
  const uint64_t session = h.create_session("alpha");  // index 1
  const uint64_t token = h.lock("L", session);          // index 2
  REQUIRE(token == 2);

  CHECK(describe(h.leader(fenced_put_op("k", "v1", "L", token)).outcome) == "put revision=1");
  CHECK(entry_of(h.sm, "k") == wire::KvEntry{"k", "v1", 1, 1, 1});

  CHECK(describe(h.leader(release_op("L", session)).outcome) == "ok");
  Applied refused = h.leader(fenced_put_op("k", "v2", "L", token));
  CHECK(describe(refused.outcome) ==
        "conflict: fencing token 2 no longer holds lock 'L' (nobody holds it); the write was "
        "not applied");
  CHECK(h.sm.revision() == 1);
  CHECK(entry_of(h.sm, "k") == wire::KvEntry{"k", "v1", 1, 1, 1});
}

// A stale token is refused while someone else holds the lock (the message names the holder);
// the current token works; a token is only good for its own lock.
TEST_CASE("kv: a fenced put with a stale token is refused and names the holder") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");  // 1
  const uint64_t s2 = h.create_session("beta");   // 2
  const uint64_t old_token = h.lock("L", s1);     // 3
  h.leader(release_op("L", s1));                  // 4
  const uint64_t new_token = h.lock("L", s2);     // 5
  REQUIRE(old_token == 3);
  REQUIRE(new_token == 5);

  Applied stale = h.leader(fenced_put_op("k", "stale", "L", old_token));
  CHECK(describe(stale.outcome) ==
        "conflict: fencing token 3 no longer holds lock 'L' (held by session 2 of node beta, "
        "token 5); the write was not applied");
  CHECK(h.sm.revision() == 0);
  CHECK_FALSE(h.sm.get("k"));

  CHECK(describe(h.leader(fenced_put_op("k", "fresh", "L", new_token)).outcome) ==
        "put revision=1");
  Applied other_lock = h.leader(fenced_put_op("k", "wrong lock", "M", new_token));
  CHECK(describe(other_lock.outcome) ==
        "conflict: fencing token 5 no longer holds lock 'M' (nobody holds it); the write was "
        "not applied");
  CHECK(h.sm.revision() == 1);
  CHECK(entry_of(h.sm, "k").value == "fresh");
}

// Every holder of a semaphore may write with its own token.
TEST_CASE("kv: each holder of a semaphore may write with its token") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");
  const uint64_t s2 = h.create_session("beta");
  const uint64_t t1 = h.lock("S", s1, 2);
  const uint64_t t2 = h.lock("S", s2, 2);
  CHECK(t1 == 3);
  CHECK(t2 == 4);
  CHECK(describe(h.leader(fenced_put_op("k", "one", "S", t1)).outcome) == "put revision=1");
  CHECK(describe(h.leader(fenced_put_op("k", "two", "S", t2)).outcome) == "put revision=2");
  CHECK(h.leader(fenced_put_op("k", "three", "S", t2 + 1)).outcome.code == ErrorCode::conflict);
  CHECK(entry_of(h.sm, "k") == wire::KvEntry{"k", "two", 1, 2, 2});
}

// A holder whose node was invalidated has lost the lock even while its slot is still blocked
// by its lock-delay: its token no longer writes.
TEST_CASE("kv: the token of an invalidated holder is refused during its lock-delay") {
  Harness h;
  const uint64_t s1 = h.create_session("alpha");
  const uint64_t token = h.lock("L", s1, 1, 5000);
  h.leader(invalidate_op("alpha", 0));
  REQUIRE(h.sm.lock("L") != nullptr);  // blocked, not forgotten
  Applied refused = h.leader(fenced_put_op("k", "late", "L", token));
  CHECK(describe(refused.outcome) ==
        "conflict: fencing token 2 no longer holds lock 'L'; the write was not applied");
  CHECK(h.sm.revision() == 0);
}

// Compare-and-set: a put with a revision applies only if the key's mod revision is that one
// (0: only if the key does not exist); a failed compare changes nothing, not even the store's
// revision, and names the key's current mod revision.
TEST_CASE("kv: compare-and-set applies on a matching mod revision only") {
  Harness h;
  CHECK(describe(h.leader(cas_put_op("k", "v1", 0)).outcome) == "put revision=1");
  Applied exists = h.leader(cas_put_op("k", "again", 0));
  CHECK(exists.outcome.code == ErrorCode::conflict);
  CHECK(exists.outcome.message ==
        "compare failed: 'k' is at mod revision 1; the put asked for a key that does not "
        "exist; nothing was written");
  h.put("other", "x");  // revision 2
  Applied stale = h.leader(cas_put_op("k", "v2", 2));
  CHECK(stale.outcome.code == ErrorCode::conflict);
  CHECK(stale.outcome.message ==
        "compare failed: 'k' is at mod revision 1; the put asked for mod revision 2; nothing "
        "was written");
  CHECK(h.sm.revision() == 2);
  CHECK(entry_of(h.sm, "k") == wire::KvEntry{"k", "v1", 1, 1, 1});

  CHECK(describe(h.leader(cas_put_op("k", "v2", 1)).outcome) == "put revision=3");
  CHECK(entry_of(h.sm, "k") == wire::KvEntry{"k", "v2", 1, 3, 2});
  // The same revision twice: the second loses (a lost update is impossible).
  CHECK(h.leader(cas_put_op("k", "v3", 1)).outcome.code == ErrorCode::conflict);
  Applied missing = h.leader(cas_put_op("nothing", "v", 7));
  CHECK(missing.outcome.message ==
        "compare failed: 'nothing' does not exist (mod revision 0); the put asked for mod "
        "revision 7; nothing was written");
  CHECK(h.sm.revision() == 3);
}

// Deletes: one key, or every key with a prefix, in one revision; nothing matched takes none.
TEST_CASE("kv: delete removes a key or a prefix in one revision") {
  Harness h;
  for (const char* key : {"app/a", "app/b", "app/c/d", "apple", "b"}) h.put(key, "v");
  CHECK(h.sm.revision() == 5);
  CHECK(describe(h.leader(delete_op("b")).outcome) == "deleted 1 revision=6");
  CHECK_FALSE(h.sm.get("b"));
  CHECK(describe(h.leader(delete_op("b")).outcome) == "deleted 0 revision=6");
  CHECK(describe(h.leader(delete_op("app/", true)).outcome) == "deleted 3 revision=7");
  CHECK(h.sm.key_count() == 1);
  REQUIRE(h.sm.get("apple"));  // "apple" does not start with "app/"
  CHECK(describe(h.leader(delete_op("zzz", true)).outcome) == "deleted 0 revision=7");
  // A key created again starts over: new create revision, version 1.
  CHECK(h.put("app/a", "w") == 8);
  CHECK(entry_of(h.sm, "app/a") == wire::KvEntry{"app/a", "w", 8, 8, 1});
}

TEST_CASE("kv: a prefix delete of more than kMaxKeysPerDelete keys is refused whole") {
  Harness h;
  for (size_t i = 0; i <= kMaxKeysPerDelete; ++i) h.put("p/" + std::to_string(i), "");
  const uint64_t before = h.sm.revision();
  Applied refused = h.leader(delete_op("p/", true));
  CHECK(refused.outcome.code == ErrorCode::too_large);
  CHECK(refused.outcome.message.find("delete narrower prefixes") != std::string::npos);
  CHECK(h.sm.key_count() == kMaxKeysPerDelete + 1);
  CHECK(h.sm.revision() == before);
  CHECK(describe(h.leader(delete_op("p/1", true)).outcome).rfind("deleted ", 0) == 0);
}

// Listing: keys with a prefix in key order, a page at a time (limit, or about 2 MB of keys and
// values), resumed after the last key; keys only on request; the store's revision with it.
TEST_CASE("kv: list pages through the keys with a prefix") {
  Harness h;
  for (const char* key : {"app/c", "app/a", "app/b/x", "apple", "b"}) h.put(key, key);
  auto keys_of = [](const wire::KvListResponse& page) {
    std::vector<std::string> keys;
    for (const auto& entry : page.items) keys.push_back(entry.key);
    return keys;
  };
  wire::KvListRequest request;
  request.prefix = "app/";
  wire::KvListResponse all = h.sm.list_kv(request);
  CHECK(keys_of(all) == std::vector<std::string>{"app/a", "app/b/x", "app/c"});
  CHECK_FALSE(all.more);
  CHECK(all.revision == 5);
  CHECK(all.items[0] == wire::KvEntry{"app/a", "app/a", 2, 2, 1});

  request.limit = 2;
  wire::KvListResponse first = h.sm.list_kv(request);
  CHECK(keys_of(first) == std::vector<std::string>{"app/a", "app/b/x"});
  CHECK(first.more);
  request.after = first.items.back().key;
  wire::KvListResponse second = h.sm.list_kv(request);
  CHECK(keys_of(second) == std::vector<std::string>{"app/c"});
  CHECK_FALSE(second.more);

  wire::KvListRequest everything;
  everything.keys_only = true;
  wire::KvListResponse keys = h.sm.list_kv(everything);
  CHECK(keys_of(keys) == std::vector<std::string>{"app/a", "app/b/x", "app/c", "apple", "b"});
  CHECK(keys.items[4].value.empty());
  CHECK(keys.items[4].mod_revision == 5);

  // A page stops at about kMaxListPageBytes of keys and values, and says there is more.
  const std::string large(400 * 1024, 'v');
  for (int i = 0; i < 8; ++i) h.put("big/" + std::to_string(i), large);
  wire::KvListRequest big;
  big.prefix = "big/";
  wire::KvListResponse page = h.sm.list_kv(big);
  CHECK(page.more);
  CHECK(page.items.size() == 6);  // 6 x 400 KiB passes 2 MiB
  big.keys_only = true;
  CHECK(h.sm.list_kv(big).items.size() == 8);
}

namespace {

wire::TxnCompare compare_of(const std::string& key, wire::TxnTarget target,
                            wire::TxnCompareOp op, uint64_t number, std::string value = "") {
  return wire::TxnCompare{key, target, op, std::move(value), number};
}
wire::TxnOp put_of(const std::string& key, const std::string& value) {
  return wire::TxnOp{wire::TxnOpType::put, key, value, false};
}
wire::TxnOp get_of(const std::string& key) {
  return wire::TxnOp{wire::TxnOpType::get, key, "", false};
}
wire::TxnOp del_of(const std::string& key, bool prefix = false) {
  return wire::TxnOp{wire::TxnOpType::del, key, "", prefix};
}

}  // namespace

// A transaction: the comparisons choose the branch; its operations apply in order at one
// revision; the answer has one result per operation.
TEST_CASE("kv: a transaction runs the success branch when every comparison holds") {
  Harness h;
  h.put("config/a", "1");     // revision 1
  h.put("config/tmp/x", "t");  // 2
  h.put("config/tmp/y", "t");  // 3
  Applied applied = h.leader(txn_op(
      {compare_of("config/a", wire::TxnTarget::mod_revision, wire::TxnCompareOp::equal, 1),
       compare_of("config/a", wire::TxnTarget::value, wire::TxnCompareOp::equal, 0, "1"),
       compare_of("missing", wire::TxnTarget::version, wire::TxnCompareOp::equal, 0),
       compare_of("missing", wire::TxnTarget::value, wire::TxnCompareOp::not_equal, 0, "")},
      {put_of("config/a", "2"), put_of("config/b", "new"), del_of("config/tmp/", true),
       get_of("config/a"), get_of("config/tmp/x")},
      {get_of("config/a")}));
  REQUIRE(applied.outcome.code == ErrorCode::ok);
  const auto& response = body_as<wire::KvTxnResponse>(applied.outcome);
  CHECK(response.succeeded);
  CHECK(response.revision == 4);  // one revision for the whole transaction
  REQUIRE(response.results.size() == 5);
  CHECK(response.results[0].revision == 4);
  CHECK(response.results[1].revision == 4);
  CHECK(response.results[2].deleted == 2);
  CHECK(response.results[3].found);  // a get sees the put before it
  CHECK(response.results[3].entry == wire::KvEntry{"config/a", "2", 1, 4, 2});
  CHECK_FALSE(response.results[4].found);
  CHECK(entry_of(h.sm, "config/b") == wire::KvEntry{"config/b", "new", 4, 4, 1});
  CHECK(h.sm.revision() == 4);
}

TEST_CASE("kv: a transaction whose comparison fails runs the failure branch") {
  Harness h;
  h.put("k", "v");  // revision 1
  Applied applied = h.leader(txn_op(
      {compare_of("k", wire::TxnTarget::mod_revision, wire::TxnCompareOp::greater, 1)},
      {put_of("k", "changed")}, {get_of("k")}));
  const auto& response = body_as<wire::KvTxnResponse>(applied.outcome);
  CHECK_FALSE(response.succeeded);
  CHECK(response.revision == 1);  // nothing written: no new revision
  REQUIRE(response.results.size() == 1);
  CHECK(response.results[0].entry.value == "v");
  CHECK(entry_of(h.sm, "k").value == "v");
  // Each operator and target, against key k (value "v", version 1, create 1, mod 1).
  auto holds = [&](wire::TxnCompare compare) {
    Applied run = h.leader(txn_op({std::move(compare)}, {}, {}));
    return body_as<wire::KvTxnResponse>(run.outcome).succeeded;
  };
  using wire::TxnCompareOp;
  using wire::TxnTarget;
  CHECK(holds(compare_of("k", TxnTarget::value, TxnCompareOp::less, 0, "w")));
  CHECK_FALSE(holds(compare_of("k", TxnTarget::value, TxnCompareOp::greater, 0, "w")));
  CHECK(holds(compare_of("k", TxnTarget::version, TxnCompareOp::equal, 1)));
  CHECK(holds(compare_of("k", TxnTarget::create_revision, TxnCompareOp::not_equal, 5)));
  CHECK(holds(compare_of("k", TxnTarget::mod_revision, TxnCompareOp::less, 2)));
  CHECK_FALSE(holds(compare_of("none", TxnTarget::value, TxnCompareOp::equal, 0, "")));
  CHECK(holds(compare_of("none", TxnTarget::create_revision, TxnCompareOp::equal, 0)));
}

TEST_CASE("kv: a transaction that writes a key twice, or passes a limit, writes nothing") {
  Harness h;
  h.put("k", "v");
  Applied twice = h.leader(txn_op({}, {put_of("a", "1"), put_of("a", "2")}));
  CHECK(twice.outcome.code == ErrorCode::invalid_argument);
  CHECK(twice.outcome.message == "the transaction writes 'a' twice; nothing was written");
  CHECK_FALSE(h.sm.get("a"));
  // Over the store's byte limit part-way: the earlier put and delete are undone. (A command is
  // at most one 4 MiB frame, so fill the store to 2 MiB below its limit first.)
  const std::string large(wire::kMaxValueBytes, 'x');
  const size_t fill = (kMaxTotalKvBytes - 2 * 1024 * 1024) / wire::kMaxValueBytes - 1;
  for (size_t i = 0; i < fill; ++i) h.put("fill/" + std::to_string(i), large);
  std::vector<wire::TxnOp> ops = {put_of("first", "1"), del_of("k")};
  for (int i = 0; i < 6; ++i) ops.push_back(put_of("big/" + std::to_string(i), large));
  const uint64_t before = h.sm.revision();
  Applied full = h.leader(txn_op({}, ops));
  CHECK(full.outcome.code == ErrorCode::too_large);
  CHECK(full.outcome.message.find("nothing was written") != std::string::npos);
  CHECK_FALSE(h.sm.get("first"));
  REQUIRE(h.sm.get("k"));
  CHECK_FALSE(h.sm.get("big/0"));
  CHECK(h.sm.revision() == before);
}

// Watches read the history the store's changes leave: puts, deletes and transactions, each
// at its revision; a restore starts the history afresh.
TEST_CASE("kv: every change is in the watch history, at its revision") {
  Harness h;
  h.put("w/a", "1");                                  // 1
  h.leader(delete_op("w/a"));                         // 2
  h.leader(txn_op({}, {put_of("w/b", "2"), put_of("w/c", "3")}));  // 3
  h.leader(cas_put_op("w/b", "x", 1));                // refused: nothing recorded
  h.put("other", "o");                                // 4
  auto answer = h.sm.watch_kv(wire::KvWatchRequest{"w/", true, 1, 0, 0});
  REQUIRE(answer.ok());
  const auto& events = answer.value().events;
  REQUIRE(events.size() == 4);
  CHECK(events[0] == wire::KvEvent{wire::KvEventType::put, wire::KvEntry{"w/a", "1", 1, 1, 1}});
  CHECK(events[1] == wire::KvEvent{wire::KvEventType::del, wire::KvEntry{"w/a", "", 0, 2, 0}});
  CHECK(events[2].entry == wire::KvEntry{"w/b", "2", 3, 3, 1});
  CHECK(events[3].entry == wire::KvEntry{"w/c", "3", 3, 3, 1});
  CHECK(answer.value().watch_revision == 4);

  // A machine restored from these rows keeps changes from the restored revision on.
  StateMachine restored;
  REQUIRE(restored.restore(h.sm.snapshot_rows(), h.sm.applied_index()).ok());
  auto old = restored.watch_kv(wire::KvWatchRequest{"w/", true, 1, 0, 0});
  REQUIRE_FALSE(old.ok());
  CHECK(old.error().message.find("the oldest revision a watch can start from is 5") !=
        std::string::npos);
}
