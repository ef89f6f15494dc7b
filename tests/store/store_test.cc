#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>

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
  CHECK(loaded.value().kv.empty());
}

TEST_CASE("a persisted batch survives reopening") {
  TempFolder folder;
  const std::string path = folder.file("state.db");
  {
    auto store = open_or_fail(path);
    Batch batch;
    batch.hard_state = raft::HardState{3, 0xfedcba9876543210ULL, 2};
    batch.entries = {entry(1, 1, ""), entry(2, 3, std::string("a\0b", 3))};
    batch.voters = {"alpha", "beta", "gamma"};
    batch.state.applied_index = 2;
    batch.state.revision = 7;
    batch.state.upserts = {KvRecord{"key", std::string("v\0", 2), 5, 7}};
    REQUIRE(store->persist(batch).ok());
  }
  auto store = open_or_fail(path);
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  const RecoveredState& state = loaded.value();
  CHECK(state.hard_state == raft::HardState{3, 0xfedcba9876543210ULL, 2});
  REQUIRE(state.entries.size() == 2);
  CHECK(state.entries[1] == entry(2, 3, std::string("a\0b", 3)));
  CHECK(state.voters == std::vector<std::string>{"alpha", "beta", "gamma"});
  CHECK(state.applied_index == 2);
  CHECK(state.revision == 7);
  REQUIRE(state.kv.size() == 1);
  CHECK(state.kv[0] == KvRecord{"key", std::string("v\0", 2), 5, 7});
}

TEST_CASE("entries replace the stored suffix from their first index") {
  TempFolder folder;
  auto store = open_or_fail(folder.file("state.db"));
  Batch first;
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

TEST_CASE("kv rows are upserted and the position moves") {
  TempFolder folder;
  auto store = open_or_fail(folder.file("state.db"));
  Batch first;
  first.entries = {entry(1, 1, "x"), entry(2, 1, "y")};
  first.hard_state = raft::HardState{1, 0, 2};
  first.state = StateChanges{{KvRecord{"a", "1", 1, 1}, KvRecord{"b", "2", 2, 2}}, 1, 2};
  REQUIRE(store->persist(first).ok());
  Batch second;
  second.state = StateChanges{{KvRecord{"a", "3", 1, 3}}, 2, 3};
  REQUIRE(store->persist(second).ok());
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  CHECK(loaded.value().kv ==
        std::vector<KvRecord>{KvRecord{"a", "3", 1, 3}, KvRecord{"b", "2", 2, 2}});
  CHECK(loaded.value().applied_index == 2);
  CHECK(loaded.value().revision == 3);
}

TEST_CASE("a log with a gap is refused at load") {
  TempFolder folder;
  const std::string path = folder.file("state.db");
  {
    auto store = open_or_fail(path);
    Batch batch;
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
  uint64_t revision = 0;
  raft::Index applied = 0;
  for (int round = 0; round < 200; ++round) {
    Batch batch;
    if (prng.chance(0.5)) {
      batch.hard_state = raft::HardState{prng.below(10), prng.below(5), applied};
    }
    if (prng.chance(0.7)) {
      // Sometimes overwrite a suffix, as a new leader would.
      raft::Index first = last_index + 1;
      if (last_index > applied && prng.chance(0.3)) {
        first = applied + 1 + prng.below(last_index - applied);
      }
      const int count = 1 + static_cast<int>(prng.below(4));
      for (int i = 0; i < count; ++i) {
        batch.entries.push_back(
            entry(first + i, 1 + prng.below(5), std::string(prng.below(8), 'a' + round % 26)));
      }
      last_index = first + count - 1;
    }
    if (prng.chance(0.05)) batch.voters = {"n" + std::to_string(prng.below(3)), "z"};
    if (prng.chance(0.5) && applied < last_index) {
      applied += 1;
      revision += 1;
      batch.state.applied_index = applied;
      batch.state.revision = revision;
      batch.state.upserts = {KvRecord{"k" + std::to_string(prng.below(6)),
                                      std::to_string(prng.next()), revision, revision}};
      // The commit index covers what is applied (load() checks applied <= commit).
      batch.hard_state = raft::HardState{prng.below(10), prng.below(5), applied};
    }
    REQUIRE(store->persist(batch).ok());
    memory.persist(batch);
  }
  auto loaded = store->load();
  REQUIRE(loaded.ok());
  const RecoveredState& from_sqlite = loaded.value();
  const RecoveredState& from_memory = memory.load();
  CHECK(from_sqlite.hard_state == from_memory.hard_state);
  CHECK(from_sqlite.entries == from_memory.entries);
  CHECK(from_sqlite.voters == from_memory.voters);
  CHECK(from_sqlite.applied_index == from_memory.applied_index);
  CHECK(from_sqlite.revision == from_memory.revision);
  CHECK(from_sqlite.kv == from_memory.kv);
}

TEST_CASE("a kv table damaged mid-scan is refused, not loaded in part") {
  TempFolder folder;
  const std::string path = folder.file("state.db");
  {
    auto store = open_or_fail(path);
    Batch batch;
    batch.entries = {entry(1, 1, "x")};
    batch.hard_state = raft::HardState{1, 0, 1};
    batch.state.applied_index = 1;
    batch.state.revision = 2000;
    for (int i = 0; i < 2000; ++i) {
      char key[16];
      std::snprintf(key, sizeof(key), "key%05d", i);
      batch.state.upserts.push_back(KvRecord{key, std::string(1000, 'v'), 1, 1});
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
