// The change history behind watches (state_machine/kv_history.h): order, filtering, paging
// at revision boundaries, compaction and the error that names the oldest revision.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "state_machine/kv_history.h"

using namespace conclave;
using namespace conclave::state;

namespace {

wire::KvEvent put_event(const std::string& key, uint64_t revision, std::string value = "v") {
  return wire::KvEvent{wire::KvEventType::put, wire::KvEntry{key, std::move(value), 1, revision, 1}};
}

std::vector<uint64_t> revisions_of(const wire::KvWatchResponse& answer) {
  std::vector<uint64_t> revisions;
  for (const auto& event : answer.events) revisions.push_back(event.entry.mod_revision);
  return revisions;
}

wire::KvWatchRequest watch(const std::string& key, bool prefix, uint64_t from,
                           uint32_t max_events = 0) {
  return wire::KvWatchRequest{key, prefix, from, 0, max_events};
}

}  // namespace

TEST_CASE("kv history: changes from a revision, for a key or a prefix, in order") {
  KvHistory history;
  history.record(put_event("a/1", 1));
  history.record(put_event("b", 2));
  history.record(wire::KvEvent{wire::KvEventType::del, wire::KvEntry{"a/1", "", 0, 3, 0}});
  history.record(put_event("a/2", 4));
  history.record(put_event("a/3", 4));  // one transaction: two keys at revision 4

  auto all = history.since(watch("", true, 1), 4);
  REQUIRE(all.ok());
  CHECK(revisions_of(all.value()) == std::vector<uint64_t>{1, 2, 3, 4, 4});
  CHECK(all.value().watch_revision == 4);
  CHECK(all.value().oldest_revision == 1);

  auto prefix = history.since(watch("a/", true, 2), 4);
  REQUIRE(prefix.ok());
  CHECK(revisions_of(prefix.value()) == std::vector<uint64_t>{3, 4, 4});
  CHECK(prefix.value().events[0].type == wire::KvEventType::del);

  auto key = history.since(watch("b", false, 1), 4);
  REQUIRE(key.ok());
  CHECK(revisions_of(key.value()) == std::vector<uint64_t>{2});
  CHECK(key.value().watch_revision == 4);  // it looked at everything up to 4

  // From the next change (0) or a future revision: nothing yet, and how far it looked.
  auto next = history.since(watch("a/", true, 0), 4);
  REQUIRE(next.ok());
  CHECK(next.value().events.empty());
  CHECK(next.value().watch_revision == 4);
  auto future = history.since(watch("a/", true, 9), 4);
  CHECK(future.value().watch_revision == 8);  // asking again from 9
}

TEST_CASE("kv history: a page ends at a revision boundary, never inside a transaction") {
  KvHistory history;
  history.record(put_event("k1", 1));
  history.record(put_event("k2", 2));
  history.record(put_event("k3", 2));
  history.record(put_event("k4", 3));
  auto first = history.since(watch("k", true, 1, 2), 3);
  REQUIRE(first.ok());
  CHECK(revisions_of(first.value()) == std::vector<uint64_t>{1});  // revision 2 would be 3
  CHECK(first.value().watch_revision == 1);
  auto second = history.since(watch("k", true, first.value().watch_revision + 1, 2), 3);
  CHECK(revisions_of(second.value()) == std::vector<uint64_t>{2, 2});
  auto third = history.since(watch("k", true, second.value().watch_revision + 1, 2), 3);
  CHECK(revisions_of(third.value()) == std::vector<uint64_t>{3});
  CHECK(third.value().watch_revision == 3);
  // A revision larger than a page on its own still comes whole.
  auto big = history.since(watch("k", true, 2, 1), 3);
  CHECK(revisions_of(big.value()) == std::vector<uint64_t>{2, 2});
}

TEST_CASE("kv history: bounded; a watch from a forgotten revision names the oldest") {
  KvHistory history;
  history.reset(10);  // e.g. restored from a snapshot at revision 10
  CHECK(history.oldest_revision() == 11);
  auto before = history.since(watch("k", false, 5), 10);
  REQUIRE_FALSE(before.ok());
  CHECK(before.error().code == ErrorCode::not_found);
  CHECK(before.error().message ==
        "revision 5 is no longer kept; the oldest revision a watch can start from is 11 (read "
        "the current values, then watch from the revision after)");
  const std::string large(1024 * 1024, 'x');
  const uint64_t count = kMaxHistoryBytes / large.size() + 10;
  for (uint64_t i = 0; i < count; ++i) history.record(put_event("k", 11 + i, large));
  CHECK(history.oldest_revision() > 11);
  auto oldest = history.since(watch("k", false, history.oldest_revision()), 10 + count);
  REQUIRE(oldest.ok());
  CHECK(oldest.value().events.front().entry.mod_revision == history.oldest_revision());
  CHECK_FALSE(history.since(watch("k", false, history.oldest_revision() - 1), 10 + count).ok());
}
