#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "store/memory_store.h"
#include "store/store.h"

using namespace conclave;
using namespace conclave::store;

namespace {

// A fresh folder per test, removed afterwards.
struct TempFolder {
  std::filesystem::path path;
  TempFolder() {
    char pattern[] = "/tmp/conclave-store-test-XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempFolder() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

raft::Entry entry(raft::Index index, raft::Term term, std::string data) {
  return raft::Entry{term, index, std::move(data)};
}

std::unique_ptr<Store> open_or_fail(const std::string& path) {
  auto opened = Store::open(path);
  REQUIRE(opened.ok());
  return std::move(opened).value();
}

}  // namespace

TEST_CASE("a new store loads empty") {
  TempFolder folder;
  auto store = open_or_fail(folder.file("state.db"));
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  CHECK(loaded.value().entries.empty());
  CHECK(loaded.value().hard_state == raft::HardState{});
  CHECK(loaded.value().voters.empty());
  CHECK(loaded.value().state_rows.empty());
}

TEST_CASE("a persisted batch survives reopening") {
  TempFolder folder;
  const std::string path = folder.file("state.db");
  {
    auto store = open_or_fail(path);
    Batch batch;
    batch.hard_state = raft::HardState{3, 0xfedcba9876543210ULL, 2};
    batch.entries = {entry(1, 1, ""), entry(2, 3, std::string("a\0b", 3))};
    batch.voters = {ServerRecord{1, "alpha"}, ServerRecord{2, "beta"},
                    ServerRecord{0xfedcba9876543210ULL, "gamma"}};
    batch.identity = Identity{"alpha", 1, 0x1234};
    batch.promise = BootstrapPromise{3, batch.voters};
    batch.state.applied_index = 2;
    batch.state.upserts = {StateRow{2, "key", std::string("v\0", 2)}, StateRow{1, "", "meta"}};
    REQUIRE(store->persist(batch).ok());
  }
  auto store = open_or_fail(path);
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  const RecoveredState& state = loaded.value();
  CHECK(state.hard_state == raft::HardState{3, 0xfedcba9876543210ULL, 2});
  REQUIRE(state.entries.size() == 2);
  CHECK(state.entries[1] == entry(2, 3, std::string("a\0b", 3)));
  CHECK(state.voters == std::vector<ServerRecord>{ServerRecord{1, "alpha"},
                                                  ServerRecord{2, "beta"},
                                                  ServerRecord{0xfedcba9876543210ULL, "gamma"}});
  REQUIRE(state.identity);
  CHECK(*state.identity == Identity{"alpha", 1, 0x1234});
  REQUIRE(state.promise);
  CHECK(state.promise->expect == 3);
  CHECK(state.promise->servers == state.voters);
  CHECK(state.damage.empty());
  CHECK(state.applied_index == 2);
  // Sorted by (space, key).
  CHECK(state.state_rows ==
        std::vector<StateRow>{StateRow{1, "", "meta"}, StateRow{2, "key", std::string("v\0", 2)}});
}

TEST_CASE("entries replace the stored suffix from their first index") {
  TempFolder folder;
  auto store = open_or_fail(folder.file("state.db"));
  Batch first;
  first.hard_state = raft::HardState{2, 0, 0};
  first.entries = {entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")};
  REQUIRE(store->persist(first).ok());
  Batch second;
  second.entries = {entry(2, 2, "B")};
  REQUIRE(store->persist(second).ok());
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  REQUIRE(loaded.value().entries.size() == 2);
  CHECK(loaded.value().entries[0] == entry(1, 1, "a"));
  CHECK(loaded.value().entries[1] == entry(2, 2, "B"));
}

TEST_CASE("state rows are upserted and deleted, and the position moves") {
  TempFolder folder;
  auto store = open_or_fail(folder.file("state.db"));
  Batch first;
  first.entries = {entry(1, 1, "x"), entry(2, 1, "y")};
  first.hard_state = raft::HardState{1, 0, 2};
  first.state = StateChanges{{StateRow{2, "a", "1"}, StateRow{2, "b", "2"}, StateRow{3, "a", "s"}},
                             {},
                             1};
  REQUIRE(store->persist(first).ok());
  Batch second;
  second.state = StateChanges{{StateRow{2, "a", "3"}}, {StateRowKey{2, "b"}}, 2};
  REQUIRE(store->persist(second).ok());
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  CHECK(loaded.value().state_rows ==
        std::vector<StateRow>{StateRow{2, "a", "3"}, StateRow{3, "a", "s"}});
  CHECK(loaded.value().applied_index == 2);
}

TEST_CASE("known members are replaced as a whole and survive reopening, in both stores") {
  TempFolder folder;
  MemoryStore memory;
  {
    auto store = open_or_fail(folder.file("db"));
    Batch first;
    first.known_members = std::vector<KnownMember>{{"b", "10.0.0.2:7946"}, {"a", "10.0.0.1:7946"}};
    REQUIRE(store->persist(first).ok());
    memory.persist(first);
    Batch second;  // a later view: a left, c joined
    second.known_members = std::vector<KnownMember>{{"c", "10.0.0.3:7946"}, {"b", "10.0.0.2:7946"}};
    REQUIRE(store->persist(second).ok());
    memory.persist(second);
    Batch unrelated;  // a batch without known_members leaves them alone
    unrelated.hard_state = raft::HardState{1, 0, 0};
    REQUIRE(store->persist(unrelated).ok());
    memory.persist(unrelated);
  }
  auto store = open_or_fail(folder.file("db"));
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  const std::vector<KnownMember> expected = {{"b", "10.0.0.2:7946"}, {"c", "10.0.0.3:7946"}};
  CHECK(loaded.value().known_members == expected);
  CHECK(memory.load().known_members == expected);
}

TEST_CASE("a log with a gap is refused at load") {
  TempFolder folder;
  const std::string path = folder.file("state.db");
  {
    auto store = open_or_fail(path);
    Batch batch;
    batch.hard_state = raft::HardState{1, 0, 0};
    batch.entries = {entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")};
    REQUIRE(store->persist(batch).ok());
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "DELETE FROM raft_log WHERE log_index = 2", nullptr, nullptr,
                       nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto store = open_or_fail(path);
  auto loaded = store->load();
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code == ErrorCode::storage);
  CHECK(loaded.error().message.find("gap before index 3") != std::string::npos);
}

TEST_CASE("a commit index beyond the log is refused at load") {
  TempFolder folder;
  auto store = open_or_fail(folder.file("state.db"));
  Batch batch;
  batch.hard_state = raft::HardState{1, 0, 5};
  batch.entries = {entry(1, 1, "a")};
  REQUIRE(store->persist(batch).ok());
  auto loaded = store->load();
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message.find("inconsistent positions") != std::string::npos);
}

TEST_CASE("a log whose terms go down, or pass the current term, is a storage error") {
  TempFolder folder;
  {
    auto store = open_or_fail(folder.file("down.db"));
    Batch batch;
    batch.hard_state = raft::HardState{3, 0, 0};
    batch.entries = {entry(1, 2, "a"), entry(2, 1, "b")};
    REQUIRE(store->persist(batch).ok());
    auto loaded = store->load();
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.error().code == ErrorCode::storage);
    CHECK_THAT(loaded.error().message, Catch::Contains("term goes down at index 2"));
  }
  {
    auto store = open_or_fail(folder.file("ahead.db"));
    Batch batch;
    batch.hard_state = raft::HardState{1, 0, 0};
    batch.entries = {entry(1, 4, "a")};
    REQUIRE(store->persist(batch).ok());
    auto loaded = store->load();
    REQUIRE_FALSE(loaded.ok());
    CHECK_THAT(loaded.error().message, Catch::Contains("above the recorded current term"));
  }
}

namespace {

void copy_file(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

Batch positions(raft::Term term, raft::NodeId vote, raft::Index commit,
                std::vector<raft::Entry> entries) {
  Batch batch;
  batch.hard_state = raft::HardState{term, vote, commit};
  batch.entries = std::move(entries);
  return batch;
}

}  // namespace

TEST_CASE("a database that comes back older than its watermark loads as damaged") {
  TempFolder folder;
  const std::string path = folder.file("state.db");
  {
    auto store = open_or_fail(path);
    REQUIRE(store->persist(positions(1, 7, 1, {entry(1, 1, "a")})).ok());
  }
  copy_file(path, folder.file("old.db"));  // closed: the WAL was checkpointed into the file
  {
    auto store = open_or_fail(path);
    REQUIRE(store->load().ok());
    REQUIRE(store->persist(positions(3, 9, 2, {entry(2, 3, "b")})).ok());
  }
  std::filesystem::remove(path + "-wal");
  copy_file(folder.file("old.db"), path);  // the database rolls back; the watermark stays
  auto store = open_or_fail(path);
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  INFO(loaded.value().damage);
  CHECK_THAT(loaded.value().damage,
             Catch::Contains("holds 1 persisted batches (term 1, commit 1) but this server once "
                             "persisted 2 (term 3, commit 2)"));
  CHECK_THAT(loaded.value().damage, Catch::Contains("must not vote"));

  // A damaged store writes nothing more: enough later batches would carry its counter past
  // the watermark and erase the evidence. (Found by the simulator: a rolled-back server
  // remembered gossip members twice, and ran Raft again after its next restart.)
  Batch later;
  later.known_members = std::vector<KnownMember>{{"b", "10.0.0.2:7946"}};
  const Status refused = store->persist(later);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message, Catch::Contains("rolled back"));
  store.reset();
  auto reopened = open_or_fail(path);
  auto again = reopened->load();
  REQUIRE(again.ok());
  CHECK_THAT(again.value().damage, Catch::Contains("but this server once persisted 2"));
}

TEST_CASE("any revert is damage, even one that changes no position; so is a bad watermark") {
  TempFolder folder;
  const std::string path = folder.file("state.db");
  {
    auto store = open_or_fail(path);
    REQUIRE(store->persist(positions(2, 0, 0, {})).ok());
  }
  copy_file(path, folder.file("old.db"));
  {
    auto store = open_or_fail(path);
    REQUIRE(store->load().ok());
    REQUIRE(store->persist(positions(2, 5, 0, {})).ok());  // voted in term 2
  }
  std::filesystem::remove(path + "-wal");
  copy_file(folder.file("old.db"), path);
  {
    auto store = open_or_fail(path);
    auto loaded = store->load();
    REQUIRE(loaded.ok());
    // Only the vote differs: the batch counter still tells.
    CHECK_THAT(loaded.value().damage, Catch::Contains("once persisted 2"));
  }
  FILE* file = std::fopen((path + "-watermark").c_str(), "r+b");
  REQUIRE(file != nullptr);
  std::fseek(file, 12, SEEK_SET);
  std::fputc('X', file);
  std::fclose(file);
  auto store = open_or_fail(path);
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  CHECK_THAT(loaded.value().damage, Catch::Contains("unreadable"));
}

TEST_CASE("bytes flipped in the middle of the WAL are caught by the watermark") {
  // As a user would see it: the agent is killed with WAL frames not yet checkpointed, and the
  // WAL gets damaged in the middle. SQLite silently drops every frame from the bad one on.
  TempFolder folder;
  const std::string path = folder.file("state.db");
  auto store = open_or_fail(path);
  raft::Index index = 0;
  for (raft::Term term = 1; term <= 40; ++term) {
    ++index;
    REQUIRE(store->persist(positions(term, term, index - 1,
                                     {entry(index, term, std::string(3000, 'x'))}))
                .ok());
  }
  // Copy the files as a crash would leave them (the store is still open: no checkpoint).
  const std::string crashed = folder.file("crashed.db");
  copy_file(path, crashed);
  copy_file(path + "-wal", crashed + "-wal");
  copy_file(path + "-watermark", crashed + "-watermark");
  store.reset();
  const auto wal_size = std::filesystem::file_size(crashed + "-wal");
  REQUIRE(wal_size > 60 * 1024);
  FILE* file = std::fopen((crashed + "-wal").c_str(), "r+b");
  REQUIRE(file != nullptr);
  std::fseek(file, static_cast<long>(wal_size / 2), SEEK_SET);
  const std::string garbage(64, '\x5A');
  std::fwrite(garbage.data(), 1, garbage.size(), file);
  std::fclose(file);

  auto reopened = open_or_fail(crashed);
  auto loaded = reopened->load();
  REQUIRE(loaded.ok());
  INFO("loaded term " << loaded.value().hard_state.term);
  CHECK(loaded.value().hard_state.term < 40);
  CHECK_THAT(loaded.value().damage, Catch::Contains("once persisted 40"));
}

TEST_CASE("opening in a missing folder names the path") {
  auto opened = Store::open("/nonexistent-conclave-folder/state.db");
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().code == ErrorCode::storage);
  CHECK(opened.error().message.find("/nonexistent-conclave-folder/state.db") !=
        std::string::npos);
}

TEST_CASE("a file that is not a database is refused with a clear error") {
  TempFolder folder;
  const std::string path = folder.file("state.db");
  FILE* file = std::fopen(path.c_str(), "w");
  REQUIRE(file != nullptr);
  std::fputs("this is not an sqlite database, just some text that is long enough", file);
  std::fclose(file);
  auto opened = Store::open(path);
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().code == ErrorCode::storage);
}

#include "common/prng.h"
#include "store/memory_store.h"

TEST_CASE("MemoryStore and Store load the same state after the same random batches") {
  TempFolder folder;
  auto store = open_or_fail(folder.file("state.db"));
  MemoryStore memory;
  Prng prng(42);
  raft::Index last_index = 0;
  raft::Index applied = 0;
  raft::Term term = 1;
  raft::NodeId vote = 0;
  raft::Index log_start = 0;
  std::map<raft::Index, raft::Term> terms;  // of the entries in the log
  uint64_t compactions = 0, snapshots = 0, membership_entries = 0;
  for (int round = 0; round < 300; ++round) {
    Batch batch;
    if (prng.chance(0.03) && round > 10) {
      // A snapshot from the leader replaces the log and the state.
      const raft::Index at = last_index + 1 + prng.below(5);
      batch.snapshot = InstalledSnapshot{
          raft::LogStart{at, term, raft::Membership{{1, 2, 3}, {7}}},
          {StateRow{1, "k1", "from a snapshot"}, StateRow{2, "k2", std::string("\0v", 2)}}};
      last_index = applied = log_start = at;
      terms.clear();
      terms[at] = term;
      batch.hard_state = raft::HardState{term, vote, applied};
      ++snapshots;
    } else if (prng.chance(0.08) && applied > log_start) {
      // Compaction of applied entries.
      const raft::Index through = log_start + 1 + prng.below(applied - log_start);
      raft::Membership members;
      members.voters = {1, 2};
      batch.log_start = raft::LogStart{through, terms.at(through), members};
      for (auto it = terms.begin(); it != terms.end() && it->first < through;) {
        it = terms.erase(it);
      }
      log_start = through;
      ++compactions;
    }
    if (prng.chance(0.2)) {
      term += 1;  // terms only go up; a vote is given at most once per term
      vote = prng.chance(0.5) ? 1 + prng.below(5) : 0;
    }
    if (prng.chance(0.5)) batch.hard_state = raft::HardState{term, vote, applied};
    if (prng.chance(0.7)) {
      // Sometimes overwrite a suffix, as a new leader would.
      raft::Index first = last_index + 1;
      if (last_index > applied && prng.chance(0.3)) {
        first = applied + 1 + prng.below(last_index - applied);
      }
      const int count = 1 + static_cast<int>(prng.below(4));
      for (int i = 0; i < count; ++i) {
        raft::Entry appended =
            entry(first + i, term, std::string(prng.below(8), 'a' + round % 26));
        if (prng.chance(0.1)) {
          appended.type = raft::EntryType::membership;
          appended.data.clear();
          appended.membership.voters = {1, 2, 1 + prng.below(9) + 10};
          appended.membership.learners = {5};
          ++membership_entries;
        }
        batch.entries.push_back(appended);
        terms[first + i] = term;
      }
      for (auto it = terms.upper_bound(first + count - 1); it != terms.end();) {
        it = terms.erase(it);
      }
      last_index = first + count - 1;
    }
    if (prng.chance(0.05)) {
      batch.voters = {ServerRecord{1 + prng.below(3), "n"}, ServerRecord{9, "z"}};
    }
    if (prng.chance(0.05)) batch.identity = Identity{"n", 1 + prng.below(9), prng.below(3)};
    if (prng.chance(0.5) && applied < last_index) {
      applied += 1;
      batch.state.applied_index = applied;
      batch.state.upserts = {StateRow{static_cast<uint32_t>(1 + prng.below(3)),
                                      "k" + std::to_string(prng.below(6)),
                                      std::to_string(prng.next())}};
      if (prng.chance(0.3)) {
        batch.state.deletes = {StateRowKey{static_cast<uint32_t>(1 + prng.below(3)),
                                           "k" + std::to_string(prng.below(6))}};
      }
      // The commit index covers what is applied (load() checks applied <= commit).
      batch.hard_state = raft::HardState{term, vote, applied};
    }
    REQUIRE(store->persist(batch).ok());
    memory.persist(batch);
  }
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  const RecoveredState& from_sqlite = loaded.value();
  const RecoveredState from_memory = memory.load();
  CHECK(from_sqlite.hard_state == from_memory.hard_state);
  CHECK(from_sqlite.entries == from_memory.entries);
  CHECK(from_sqlite.log_start == from_memory.log_start);
  CHECK(from_sqlite.log_start.index == log_start);
  // The run must exercise what it compares.
  CHECK(compactions > 3);
  CHECK(snapshots > 1);
  CHECK(membership_entries > 3);
  CHECK(from_sqlite.voters == from_memory.voters);
  CHECK(from_sqlite.applied_index == from_memory.applied_index);
  CHECK(from_sqlite.state_rows == from_memory.state_rows);
  CHECK(from_sqlite.identity == from_memory.identity);
  CHECK(from_sqlite.persisted_batches == from_memory.persisted_batches);
  CHECK(from_sqlite.damage.empty());
  CHECK(from_memory.damage.empty());
}

TEST_CASE("a state table damaged mid-scan is refused, not loaded in part") {
  TempFolder folder;
  const std::string path = folder.file("state.db");
  {
    auto store = open_or_fail(path);
    Batch batch;
    batch.entries = {entry(1, 1, "x")};
    batch.hard_state = raft::HardState{1, 0, 1};
    batch.state.applied_index = 1;
    for (int i = 0; i < 2000; ++i) {
      char key[16];
      std::snprintf(key, sizeof(key), "key%05d", i);
      batch.state.upserts.push_back(StateRow{2, key, std::string(1000, 'v')});
    }
    REQUIRE(store->persist(batch).ok());
  }  // closing checkpoints the WAL into the main file
  // Overwrite pages near the end of the file, where the last kv rows were written.
  const auto size = std::filesystem::file_size(path);
  REQUIRE(size > 64 * 1024);
  FILE* file = std::fopen(path.c_str(), "r+b");
  REQUIRE(file != nullptr);
  std::fseek(file, static_cast<long>(size - 32 * 1024), SEEK_SET);
  const std::string garbage(16 * 1024, '\xA5');
  std::fwrite(garbage.data(), 1, garbage.size(), file);
  std::fclose(file);

  auto opened = Store::open(path);
  if (!opened.ok()) {
    SUCCEED("refused at open: " + opened.error().message);
    return;
  }
  auto loaded = opened.value()->load();
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().code == ErrorCode::storage);
}
