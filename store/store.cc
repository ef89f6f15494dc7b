#include "store/store.h"

#include <sqlite3.h>

#include <utility>

namespace conclave::store {
namespace {

constexpr int kSchemaVersion = 1;

// Tables. Unsigned 64-bit values (node ids, terms, revisions) are stored as SQLite's signed
// INTEGER with the same bit pattern and cast back on load.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_log (
  log_index INTEGER PRIMARY KEY,
  term INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_hard_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  term INTEGER NOT NULL,
  vote INTEGER NOT NULL,
  commit_index INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_voters (
  name TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS state_position (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  applied_index INTEGER NOT NULL,
  revision INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (
  key BLOB PRIMARY KEY,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL
);
)sql";

// Owns one prepared statement.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  sqlite3_stmt* get() { return stmt_; }

  void bind_int(int position, uint64_t value) {
    sqlite3_bind_int64(stmt_, position, static_cast<sqlite3_int64>(value));
  }
  void bind_blob(int position, const std::string& bytes) {
    // A zero-length blob still binds as a blob (not NULL) when given a non-null pointer.
    sqlite3_bind_blob(stmt_, position, bytes.empty() ? "" : bytes.data(),
                      static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  }
  void bind_text(int position, const std::string& text) {
    sqlite3_bind_text(stmt_, position, text.data(), static_cast<int>(text.size()),
                      SQLITE_TRANSIENT);
  }
  uint64_t column_int(int column) {
    return static_cast<uint64_t>(sqlite3_column_int64(stmt_, column));
  }
  std::string column_blob(int column) {
    const void* data = sqlite3_column_blob(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    return data == nullptr ? std::string() : std::string(static_cast<const char*>(data), size);
  }
  // Runs a statement that returns no rows, then resets it for reuse.
  int run() {
    const int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return rc;
  }
  int step() { return sqlite3_step(stmt_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

Error storage_error(sqlite3* db, const std::string& path, const std::string& what) {
  return make_error(ErrorCode::storage, "storage " + path + ": " + what + ": " +
                                            (db ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

Store::Store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

Store::~Store() { sqlite3_close(db_); }

Status Store::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    return make_error(ErrorCode::storage, "storage " + path_ + ": " + text);
  }
  return Status();
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Error error = storage_error(db, path, "cannot open the database (check that the data "
                                          "folder exists and is writable)");
    sqlite3_close(db);
    return error;
  }
  std::unique_ptr<Store> store(new Store(db, path));
  sqlite3_busy_timeout(db, 5000);
  // WAL + synchronous=FULL: a committed transaction is on disk when COMMIT returns (one fsync
  // of the WAL per transaction), and readers never block the writer.
  for (const char* pragma : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;",
                             "PRAGMA foreign_keys=ON;"}) {
    if (Status status = store->exec(pragma); !status.ok()) return status.error();
  }
  if (Status status = store->exec(kSchema); !status.ok()) {
    return make_error(ErrorCode::storage,
                      status.error().message + " (is this a conclave data file?)");
  }
  Statement version(db, "SELECT version FROM schema_version WHERE id = 1");
  if (!version.ok()) return storage_error(db, path, "reading schema version");
  if (version.step() == SQLITE_ROW) {
    const uint64_t found = version.column_int(0);
    if (found != kSchemaVersion) {
      return make_error(ErrorCode::storage,
                        "storage " + path + ": schema version " + std::to_string(found) +
                            " is not supported by this build (expects " +
                            std::to_string(kSchemaVersion) + ")");
    }
  } else {
    Statement insert(db, "INSERT INTO schema_version (id, version) VALUES (1, ?)");
    insert.bind_int(1, kSchemaVersion);
    if (insert.run() != SQLITE_DONE) return storage_error(db, path, "writing schema version");
  }
  return store;
}

Result<RecoveredState> Store::load() {
  RecoveredState state;
  {
    Statement query(db_, "SELECT term, vote, commit_index FROM raft_hard_state WHERE id = 1");
    if (!query.ok()) return storage_error(db_, path_, "reading hard state");
    const int rc = query.step();
    if (rc == SQLITE_ROW) {
      state.hard_state.term = query.column_int(0);
      state.hard_state.vote = query.column_int(1);
      state.hard_state.commit = query.column_int(2);
    } else if (rc != SQLITE_DONE) {
      // Reading "no row" on an I/O error would forget the vote: refuse instead.
      return storage_error(db_, path_, "reading hard state");
    }
  }
  {
    Statement query(db_, "SELECT log_index, term, data FROM raft_log ORDER BY log_index");
    if (!query.ok()) return storage_error(db_, path_, "reading the raft log");
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) {
      raft::Entry entry;
      entry.index = query.column_int(0);
      entry.term = query.column_int(1);
      entry.data = query.column_blob(2);
      if (entry.index != state.entries.size() + 1) {
        return make_error(ErrorCode::storage,
                          "storage " + path_ + ": the raft log has a gap before index " +
                              std::to_string(entry.index) + "; refusing to start on it");
      }
      state.entries.push_back(std::move(entry));
    }
    if (rc != SQLITE_DONE) return storage_error(db_, path_, "reading the raft log");
  }
  {
    Statement query(db_, "SELECT name FROM raft_voters ORDER BY name");
    if (!query.ok()) return storage_error(db_, path_, "reading voters");
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) state.voters.push_back(query.column_blob(0));
    if (rc != SQLITE_DONE) return storage_error(db_, path_, "reading voters");
  }
  {
    Statement query(db_, "SELECT applied_index, revision FROM state_position WHERE id = 1");
    if (!query.ok()) return storage_error(db_, path_, "reading the state position");
    const int rc = query.step();
    if (rc == SQLITE_ROW) {
      state.applied_index = query.column_int(0);
      state.revision = query.column_int(1);
    } else if (rc != SQLITE_DONE) {
      return storage_error(db_, path_, "reading the state position");
    }
  }
  {
    Statement query(db_,
                    "SELECT key, value, create_revision, mod_revision FROM kv ORDER BY key");
    if (!query.ok()) return storage_error(db_, path_, "reading the kv table");
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) {
      state.kv.push_back(KvRecord{query.column_blob(0), query.column_blob(1),
                                  query.column_int(2), query.column_int(3)});
    }
    // A partial KV table with a full applied_index would silently diverge from the others.
    if (rc != SQLITE_DONE) return storage_error(db_, path_, "reading the kv table");
  }
  const raft::Index last_index = state.entries.size();
  if (state.hard_state.commit > last_index || state.applied_index > state.hard_state.commit) {
    return make_error(ErrorCode::storage,
                      "storage " + path_ + ": inconsistent positions (applied " +
                          std::to_string(state.applied_index) + ", commit " +
                          std::to_string(state.hard_state.commit) + ", last log index " +
                          std::to_string(last_index) + "); refusing to start on it");
  }
  return state;
}

Status Store::persist(const Batch& batch) {
  if (batch.empty()) return Status();
  if (Status status = exec("BEGIN IMMEDIATE;"); !status.ok()) return status;
  auto fail = [this](const std::string& what) -> Status {
    Error error = storage_error(db_, path_, what);
    (void)exec("ROLLBACK;");
    return error;
  };

  if (batch.hard_state) {
    Statement upsert(db_,
                     "INSERT INTO raft_hard_state (id, term, vote, commit_index) "
                     "VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET term = excluded.term, "
                     "vote = excluded.vote, commit_index = excluded.commit_index");
    upsert.bind_int(1, batch.hard_state->term);
    upsert.bind_int(2, batch.hard_state->vote);
    upsert.bind_int(3, batch.hard_state->commit);
    if (!upsert.ok() || upsert.run() != SQLITE_DONE) return fail("writing hard state");
  }
  if (!batch.entries.empty()) {
    // A new leader may have replaced an uncommitted suffix (Raft §5.3): drop it first.
    Statement truncate(db_, "DELETE FROM raft_log WHERE log_index >= ?");
    truncate.bind_int(1, batch.entries.front().index);
    if (!truncate.ok() || truncate.run() != SQLITE_DONE) return fail("truncating the log");
    Statement insert(db_, "INSERT INTO raft_log (log_index, term, data) VALUES (?, ?, ?)");
    if (!insert.ok()) return fail("preparing log insert");
    for (const raft::Entry& entry : batch.entries) {
      insert.bind_int(1, entry.index);
      insert.bind_int(2, entry.term);
      insert.bind_blob(3, entry.data);
      if (insert.run() != SQLITE_DONE) return fail("appending to the log");
    }
  }
  if (!batch.voters.empty()) {
    if (Status status = exec("DELETE FROM raft_voters;"); !status.ok()) {
      (void)exec("ROLLBACK;");
      return status;
    }
    Statement insert(db_, "INSERT INTO raft_voters (name) VALUES (?)");
    for (const std::string& name : batch.voters) {
      insert.bind_text(1, name);
      if (!insert.ok() || insert.run() != SQLITE_DONE) return fail("writing voters");
    }
  }
  if (batch.state.applied_index != 0) {
    Statement upsert(db_,
                     "INSERT INTO kv (key, value, create_revision, mod_revision) "
                     "VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                     "excluded.value, create_revision = excluded.create_revision, "
                     "mod_revision = excluded.mod_revision");
    if (!upsert.ok()) return fail("preparing kv upsert");
    for (const KvRecord& record : batch.state.upserts) {
      upsert.bind_blob(1, record.key);
      upsert.bind_blob(2, record.value);
      upsert.bind_int(3, record.create_revision);
      upsert.bind_int(4, record.mod_revision);
      if (upsert.run() != SQLITE_DONE) return fail("writing kv");
    }
    Statement position(db_,
                       "INSERT INTO state_position (id, applied_index, revision) VALUES (1, ?, "
                       "?) ON CONFLICT(id) DO UPDATE SET applied_index = "
                       "excluded.applied_index, revision = excluded.revision");
    position.bind_int(1, batch.state.applied_index);
    position.bind_int(2, batch.state.revision);
    if (!position.ok() || position.run() != SQLITE_DONE) return fail("writing state position");
  }
  if (Status status = exec("COMMIT;"); !status.ok()) {
    (void)exec("ROLLBACK;");
    return status;
  }
  return Status();
}

}  // namespace conclave::store
