// Store: the agent's durable state in one SQLite database (the only code that touches SQLite).
//
// Tables: the node's identity, its bootstrap promise, the Raft log and hard state, the Raft
// voter set, and the applied state machine (generic state rows and their position). The database runs
// in WAL mode with synchronous=FULL (both checked at open), so a persist() that returned ok
// survives a crash or power loss. Beside it, `<path>-watermark` holds the number of batches
// ever persisted (store/rollback.h), so a database that comes back older is reported as damage
// instead of being trusted.
//
// Threading: a Store is used by one thread at a time. agent/runtime calls persist() on a libuv
// worker thread with at most one call in flight, and load() before the loop starts.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/result.h"
#include "store/records.h"
#include "store/rollback.h"

struct sqlite3;
struct sqlite3_stmt;

namespace conclave::store {

class Store {
 public:
  // Opens (creating if needed) the database file at `path` and its schema. Errors name the path
  // and SQLite's message, e.g. a read-only folder or a file that is not a conclave database.
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Reads everything back and checks it (store/validate.h): a log or positions the Raft core
  // could not start on are a storage error. A database older than its watermark loads, with
  // RecoveredState::damage saying so (the agent then serves status but never votes).
  Result<RecoveredState> load();

  // Writes the batch in one transaction (one fsync). On error nothing of the batch is kept.
  Status persist(const Batch& batch);

  const std::string& path() const { return path_; }

 private:
  Store(sqlite3* db, std::string path);
  Status exec(const char* sql);
  // The write path's statements are prepared once and reused (preparing them on every batch
  // was a third of the agent's CPU). Keyed by the SQL text's address: callers pass literals.
  // Returns nullptr if the statement does not prepare.
  sqlite3_stmt* cached(const char* sql);
  // Runs a cached statement that returns no rows (BEGIN, COMMIT).
  Status run_cached(const char* sql);
  // Records where the log begins (raft_log_start and its members); inside a transaction.
  Status write_log_start(const raft::LogStart& start);
  Status check_pragma(const char* query, const std::string& expected, const char* why);
  Status write_watermark();

  sqlite3* db_;
  std::map<const char*, sqlite3_stmt*> statements_;
  std::string path_;
  std::string watermark_path_;
  Watermark watermark_;
  // What load() found wrong (a rollback): from then on persist() refuses, since enough new
  // batches would carry the counter past the watermark and erase the evidence.
  std::string damage_;
};

}  // namespace conclave::store
