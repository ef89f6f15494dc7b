#include "store/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "store/validate.h"

namespace conclave::store {
namespace {

// Version 2: node identity, bootstrap promise, voters by server id.
// Version 3: the replicated state as generic rows (state_rows) instead of a kv table.
// Version 4: Raft membership entries (raft_log_members, raft_log_membership_entries) and log
// compaction (raft_log_start, raft_log_start_members). A version-3 folder is upgraded in place:
// its log holds no membership entries and was never compacted, so the new tables start empty.
// Version 5: known_members (gossip members remembered for a rejoin after restart). Versions 3
// and 4 are upgraded in place: the new table starts empty.
constexpr int kSchemaVersion = 5;

// Tables. Unsigned 64-bit values (node ids, terms, revisions) are stored as SQLite's signed
// INTEGER with the same bit pattern and cast back on load.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS identity (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  node_name TEXT NOT NULL,
  server_id INTEGER NOT NULL,
  cluster_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bootstrap_promise (
  server_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  expect INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_log (
  log_index INTEGER PRIMARY KEY,
  term INTEGER NOT NULL,
  data BLOB NOT NULL
);
-- The members a membership entry (raft::EntryType::membership) lists, one row each.
CREATE TABLE IF NOT EXISTS raft_log_members (
  log_index INTEGER NOT NULL,
  server_id INTEGER NOT NULL,
  voter INTEGER NOT NULL,
  PRIMARY KEY (log_index, server_id)
) WITHOUT ROWID;
-- Where the log begins after compaction or a snapshot install (raft::LogStart), and the
-- membership in force there.
CREATE TABLE IF NOT EXISTS raft_log_start (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  log_index INTEGER NOT NULL,
  term INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_log_start_members (
  server_id INTEGER PRIMARY KEY,
  voter INTEGER NOT NULL
);
-- Indexes of membership entries (an entry listed here with no members is malformed).
CREATE TABLE IF NOT EXISTS raft_log_membership_entries (
  log_index INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS raft_hard_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  term INTEGER NOT NULL,
  vote INTEGER NOT NULL,
  commit_index INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS raft_voters (
  server_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS store_position (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  persisted_batches INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state_position (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  applied_index INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state_rows (
  space INTEGER NOT NULL,
  key BLOB NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (space, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS known_members (
  address TEXT PRIMARY KEY,
  name TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// Owns one prepared statement.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  // Borrows a statement prepared once (Store::cached) and leaves it reset for the next user.
  explicit Statement(sqlite3_stmt* cached) : db_(nullptr), stmt_(cached), owned_(false) {}
  ~Statement() {
    if (owned_) {
      sqlite3_finalize(stmt_);
    } else if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
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
  std::string column_text(int column) {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    const int size = sqlite3_column_bytes(stmt_, column);
    return text == nullptr ? std::string()
                           : std::string(reinterpret_cast<const char*>(text), size);
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
  bool owned_ = true;
};

Error storage_error(sqlite3* db, const std::string& path, const std::string& what) {
  return make_error(ErrorCode::storage, "storage " + path + ": " + what + ": " +
                                            (db ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

Store::Store(sqlite3* db, std::string path)
    : db_(db), path_(std::move(path)), watermark_path_(path_ + "-watermark") {}

Status Store::check_pragma(const char* query, const std::string& expected, const char* why) {
  Statement statement(db_, query);
  if (!statement.ok() || statement.step() != SQLITE_ROW) {
    return storage_error(db_, path_, std::string("reading ") + query);
  }
  const std::string found = statement.column_text(0);
  if (found != expected) {
    return make_error(ErrorCode::storage, "storage " + path_ + ": " + query + " is '" + found +
                                              "', expected '" + expected + "' (" + why +
                                              "); is the data folder on a file system that "
                                              "supports it?");
  }
  return Status();
}

Status Store::write_watermark() {
  const std::string bytes = encode_watermark(watermark_);
  const int fd = ::open(watermark_path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(ErrorCode::storage, "storage " + watermark_path_ + ": cannot open: " +
                                              std::strerror(errno));
  }
  const ssize_t written = ::pwrite(fd, bytes.data(), bytes.size(), 0);
  const int saved = errno;
  ::close(fd);
  if (written != static_cast<ssize_t>(bytes.size())) {
    return make_error(ErrorCode::storage, "storage " + watermark_path_ + ": cannot write: " +
                                              std::strerror(written < 0 ? saved : EIO));
  }
  return Status();
}

Store::~Store() {
  for (auto& [sql, statement] : statements_) sqlite3_finalize(statement);
  sqlite3_close(db_);
}

Status Store::run_cached(const char* sql) {
  Statement statement(cached(sql));
  if (!statement.ok() || statement.step() != SQLITE_DONE) {
    return storage_error(db_, path_, std::string("running ") + sql);
  }
  return Status();
}

sqlite3_stmt* Store::cached(const char* sql) {
  auto found = statements_.find(sql);
  if (found != statements_.end()) return found->second;
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr) !=
      SQLITE_OK) {
    sqlite3_finalize(statement);
    return nullptr;
  }
  statements_.emplace(sql, statement);
  return statement;
}

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
  // of the WAL per transaction), and readers never block the writer. Durability depends on
  // both, so each is read back: SQLite answers a pragma it cannot honour without an error.
  // The WAL is checkpointed every 256 pages (1 MiB) and truncated back to 1 MiB afterwards,
  // so the data folder stays near the size of the live data (docs/performance.md).
  for (const char* pragma : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;",
                             "PRAGMA foreign_keys=ON;", "PRAGMA wal_autocheckpoint=256;",
                             "PRAGMA journal_size_limit=1048576;"}) {
    if (Status status = store->exec(pragma); !status.ok()) return status.error();
  }
  if (Status status = store->check_pragma("PRAGMA journal_mode;", "wal",
                                          "write-ahead logging is how a batch commits with one "
                                          "fsync");
      !status.ok()) {
    return status.error();
  }
  if (Status status = store->check_pragma("PRAGMA synchronous;", "2",
                                          "synchronous=FULL makes every commit durable");
      !status.ok()) {
    return status.error();
  }
  if (Status status = store->exec(kSchema); !status.ok()) {
    return make_error(ErrorCode::storage,
                      status.error().message + " (is this a conclave data file?)");
  }
  Statement version(db, "SELECT version FROM schema_version WHERE id = 1");
  if (!version.ok()) return storage_error(db, path, "reading schema version");
  if (version.step() == SQLITE_ROW) {
    const uint64_t found = version.column_int(0);
    if (found == 3 || found == 4) {
      // Upgrade: kSchema above created the tables added since, which start empty.
      if (Status status = store->exec("UPDATE schema_version SET version = 5 WHERE id = 1;");
          !status.ok()) {
        return status.error();
      }
    } else if (found != kSchemaVersion) {
      return make_error(ErrorCode::storage,
                        "storage " + path + ": schema version " + std::to_string(found) +
                            " is not supported by this build (expects " +
                            std::to_string(kSchemaVersion) +
                            "); it was written by another conclave version. Move the data "
                            "folder away and let the server rejoin as a new member");
    }
  } else {
    Statement insert(db, "INSERT INTO schema_version (id, version) VALUES (1, ?)");
    insert.bind_int(1, kSchemaVersion);
    if (insert.run() != SQLITE_DONE) return storage_error(db, path, "writing schema version");
  }
  // The batch counter continues from what the database holds, even before load().
  Statement counter(db, "SELECT persisted_batches FROM store_position WHERE id = 1");
  if (!counter.ok()) return storage_error(db, path, "reading the batch counter");
  if (counter.step() == SQLITE_ROW) store->watermark_.batches = counter.column_int(0);
  return store;
}

Result<RecoveredState> Store::load() {
  RecoveredState state;
  {
    Statement query(db_, "SELECT persisted_batches FROM store_position WHERE id = 1");
    if (!query.ok()) return storage_error(db_, path_, "reading the batch counter");
    const int rc = query.step();
    if (rc == SQLITE_ROW) {
      state.persisted_batches = query.column_int(0);
    } else if (rc != SQLITE_DONE) {
      return storage_error(db_, path_, "reading the batch counter");
    }
  }
  {
    Statement query(db_, "SELECT node_name, server_id, cluster_id FROM identity WHERE id = 1");
    if (!query.ok()) return storage_error(db_, path_, "reading the identity");
    const int rc = query.step();
    if (rc == SQLITE_ROW) {
      state.identity = Identity{query.column_text(0), query.column_int(1), query.column_int(2)};
    } else if (rc != SQLITE_DONE) {
      return storage_error(db_, path_, "reading the identity");
    }
  }
  {
    Statement query(db_, "SELECT server_id, name, expect FROM bootstrap_promise "
                         "ORDER BY server_id");
    if (!query.ok()) return storage_error(db_, path_, "reading the bootstrap promise");
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) {
      if (!state.promise) state.promise = BootstrapPromise{};
      state.promise->expect = static_cast<int>(query.column_int(2));
      state.promise->servers.push_back(ServerRecord{query.column_int(0), query.column_text(1)});
    }
    if (rc != SQLITE_DONE) return storage_error(db_, path_, "reading the bootstrap promise");
    if (state.promise) {
      std::sort(state.promise->servers.begin(), state.promise->servers.end(),
                [](const ServerRecord& a, const ServerRecord& b) {
                  return a.server_id < b.server_id;
                });
    }
  }
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
    Statement query(db_, "SELECT log_index, term FROM raft_log_start WHERE id = 1");
    if (!query.ok()) return storage_error(db_, path_, "reading the log start");
    const int rc = query.step();
    if (rc == SQLITE_ROW) {
      state.log_start.index = query.column_int(0);
      state.log_start.term = query.column_int(1);
    } else if (rc != SQLITE_DONE) {
      return storage_error(db_, path_, "reading the log start");
    }
    Statement members(db_, "SELECT server_id, voter FROM raft_log_start_members");
    if (!members.ok()) return storage_error(db_, path_, "reading the log start");
    int member_rc;
    while ((member_rc = members.step()) == SQLITE_ROW) {
      (members.column_int(1) != 0 ? state.log_start.membership.voters
                                  : state.log_start.membership.learners)
          .push_back(members.column_int(0));
    }
    if (member_rc != SQLITE_DONE) return storage_error(db_, path_, "reading the log start");
    std::sort(state.log_start.membership.voters.begin(), state.log_start.membership.voters.end());
    std::sort(state.log_start.membership.learners.begin(),
              state.log_start.membership.learners.end());
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
      state.entries.push_back(std::move(entry));
    }
    if (rc != SQLITE_DONE) return storage_error(db_, path_, "reading the raft log");
  }
  {
    // Membership entries: mark them, then fill in their members.
    Statement query(db_, "SELECT log_index FROM raft_log_membership_entries ORDER BY log_index");
    if (!query.ok()) return storage_error(db_, path_, "reading membership entries");
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) {
      const raft::Index index = query.column_int(0);
      const raft::Index start = state.log_start.index;
      if (index <= start || index > start + state.entries.size()) continue;  // validate.cc
      state.entries[index - start - 1].type = raft::EntryType::membership;
    }
    if (rc != SQLITE_DONE) return storage_error(db_, path_, "reading membership entries");
    Statement members(db_, "SELECT log_index, server_id, voter FROM raft_log_members");
    if (!members.ok()) return storage_error(db_, path_, "reading membership entries");
    while ((rc = members.step()) == SQLITE_ROW) {
      const raft::Index index = members.column_int(0);
      const raft::Index start = state.log_start.index;
      if (index <= start || index > start + state.entries.size()) continue;
      raft::Membership& membership = state.entries[index - start - 1].membership;
      (members.column_int(2) != 0 ? membership.voters : membership.learners)
          .push_back(members.column_int(1));
    }
    if (rc != SQLITE_DONE) return storage_error(db_, path_, "reading membership entries");
    for (raft::Entry& entry : state.entries) {
      // Ids are unsigned; SQLite returned them in no useful order.
      std::sort(entry.membership.voters.begin(), entry.membership.voters.end());
      std::sort(entry.membership.learners.begin(), entry.membership.learners.end());
    }
  }
  {
    Statement query(db_, "SELECT address, name FROM known_members ORDER BY address");
    if (!query.ok()) return storage_error(db_, path_, "reading known members");
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) {
      state.known_members.push_back(KnownMember{query.column_text(1), query.column_text(0)});
    }
    if (rc != SQLITE_DONE) return storage_error(db_, path_, "reading known members");
  }
  {
    Statement query(db_, "SELECT server_id, name FROM raft_voters ORDER BY server_id");
    if (!query.ok()) return storage_error(db_, path_, "reading voters");
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) {
      state.voters.push_back(ServerRecord{query.column_int(0), query.column_text(1)});
    }
    // Ids are unsigned; SQLite sorted their signed bit patterns.
    std::sort(state.voters.begin(), state.voters.end(),
              [](const ServerRecord& a, const ServerRecord& b) { return a.server_id < b.server_id; });
    if (rc != SQLITE_DONE) return storage_error(db_, path_, "reading voters");
  }
  {
    Statement query(db_, "SELECT applied_index FROM state_position WHERE id = 1");
    if (!query.ok()) return storage_error(db_, path_, "reading the state position");
    const int rc = query.step();
    if (rc == SQLITE_ROW) {
      state.applied_index = query.column_int(0);
    } else if (rc != SQLITE_DONE) {
      return storage_error(db_, path_, "reading the state position");
    }
  }
  {
    Statement query(db_, "SELECT space, key, value FROM state_rows ORDER BY space, key");
    if (!query.ok()) return storage_error(db_, path_, "reading the state rows");
    int rc;
    while ((rc = query.step()) == SQLITE_ROW) {
      state.state_rows.push_back(StateRow{static_cast<uint32_t>(query.column_int(0)),
                                          query.column_blob(1), query.column_blob(2)});
    }
    // A partial state with a full applied_index would silently diverge from the others.
    if (rc != SQLITE_DONE) return storage_error(db_, path_, "reading the state rows");
  }
  if (Status status = validate_recovered(state, path_); !status.ok()) return status.error();

  // Compare with the watermark kept outside the WAL (store/rollback.h).
  std::string bytes;
  if (const int fd = ::open(watermark_path_.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    char buffer[256];
    const ssize_t count = ::read(fd, buffer, sizeof(buffer));
    ::close(fd);
    if (count > 0) bytes.assign(buffer, static_cast<size_t>(count));
    std::optional<Watermark> found = decode_watermark(bytes);
    if (!found) {
      state.damage = "the watermark file " + watermark_path_ +
                     " is unreadable (damaged), so a rollback of the database cannot be ruled "
                     "out. Fix: stop the agent, move its data folder away, and start it again "
                     "so that it rejoins as a new server";
    } else {
      state.damage = describe_rollback(*found, state);
    }
  } else if (errno != ENOENT) {
    return make_error(ErrorCode::storage, "storage " + watermark_path_ + ": cannot read: " +
                                              std::strerror(errno));
  }
  watermark_ = Watermark{state.persisted_batches, state.hard_state.term,
                         state.hard_state.commit};
  damage_ = state.damage;
  return state;
}

Status Store::write_log_start(const raft::LogStart& start) {
  Statement upsert(cached("INSERT INTO raft_log_start (id, log_index, term) VALUES (1, ?, ?) "
                          "ON CONFLICT(id) DO UPDATE SET log_index = excluded.log_index, "
                          "term = excluded.term"));
  upsert.bind_int(1, start.index);
  upsert.bind_int(2, start.term);
  if (!upsert.ok() || upsert.run() != SQLITE_DONE) {
    return storage_error(db_, path_, "writing the log start");
  }
  if (Status status = run_cached("DELETE FROM raft_log_start_members;"); !status.ok()) {
    return status;
  }
  Statement member(
      cached("INSERT INTO raft_log_start_members (server_id, voter) VALUES (?, ?)"));
  for (const auto& [ids, voter] : {std::pair{&start.membership.voters, 1},
                                   std::pair{&start.membership.learners, 0}}) {
    for (raft::NodeId id : *ids) {
      member.bind_int(1, id);
      member.bind_int(2, static_cast<uint64_t>(voter));
      if (!member.ok() || member.run() != SQLITE_DONE) {
        return storage_error(db_, path_, "writing the log start");
      }
    }
  }
  return Status();
}

Status Store::persist(const Batch& batch) {
  if (batch.empty()) return Status();
  if (!damage_.empty()) {
    return make_error(ErrorCode::storage,
                      "storage " + path_ + ": refusing to write to a database that was rolled "
                      "back (" + damage_ + ")");
  }
  if (Status status = run_cached("BEGIN IMMEDIATE;"); !status.ok()) return status;
  auto fail = [this](const std::string& what) -> Status {
    Error error = storage_error(db_, path_, what);
    (void)exec("ROLLBACK;");
    return error;
  };

  if (batch.snapshot) {
    // A snapshot replaces the log and the state.
    for (const char* sql :
         {"DELETE FROM raft_log;", "DELETE FROM raft_log_members;",
          "DELETE FROM raft_log_membership_entries;", "DELETE FROM state_rows;"}) {
      if (Status status = exec(sql); !status.ok()) {
        (void)exec("ROLLBACK;");
        return status;
      }
    }
    Statement insert(cached("INSERT INTO state_rows (space, key, value) VALUES (?, ?, ?)"));
    if (!insert.ok()) return fail("preparing the snapshot's rows");
    for (const StateRow& row : batch.snapshot->rows) {
      insert.bind_int(1, row.space);
      insert.bind_blob(2, row.key);
      insert.bind_blob(3, row.value);
      if (insert.run() != SQLITE_DONE) return fail("writing the snapshot's rows");
    }
    Statement position(cached("INSERT INTO state_position (id, applied_index) VALUES (1, ?) "
                       "ON CONFLICT(id) DO UPDATE SET applied_index = excluded.applied_index"));
    position.bind_int(1, batch.snapshot->start.index);
    if (!position.ok() || position.run() != SQLITE_DONE) return fail("writing state position");
    if (Status status = write_log_start(batch.snapshot->start); !status.ok()) {
      (void)exec("ROLLBACK;");
      return status;
    }
  }
  if (batch.log_start &&
      (!batch.snapshot || batch.log_start->index > batch.snapshot->start.index)) {
    // Compaction: the entries up to the new start are applied and in the state rows. (Never
    // behind a snapshot installed in the same batch.)
    for (const char* sql : {"DELETE FROM raft_log WHERE log_index <= ?",
                            "DELETE FROM raft_log_members WHERE log_index <= ?",
                            "DELETE FROM raft_log_membership_entries WHERE log_index <= ?"}) {
      Statement remove(cached(sql));
      remove.bind_int(1, batch.log_start->index);
      if (!remove.ok() || remove.run() != SQLITE_DONE) return fail("compacting the log");
    }
    if (Status status = write_log_start(*batch.log_start); !status.ok()) {
      (void)exec("ROLLBACK;");
      return status;
    }
  }
  if (batch.identity) {
    Statement upsert(cached("INSERT INTO identity (id, node_name, server_id, cluster_id) "
                     "VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET node_name = "
                     "excluded.node_name, server_id = excluded.server_id, cluster_id = "
                     "excluded.cluster_id"));
    upsert.bind_text(1, batch.identity->node_name);
    upsert.bind_int(2, batch.identity->server_id);
    upsert.bind_int(3, batch.identity->cluster_id);
    if (!upsert.ok() || upsert.run() != SQLITE_DONE) return fail("writing the identity");
  }
  if (batch.promise) {
    if (Status status = exec("DELETE FROM bootstrap_promise;"); !status.ok()) {
      (void)exec("ROLLBACK;");
      return status;
    }
    Statement insert(cached("INSERT INTO bootstrap_promise (server_id, name, expect) "
                          "VALUES (?, ?, ?)"));
    for (const ServerRecord& server : batch.promise->servers) {
      insert.bind_int(1, server.server_id);
      insert.bind_text(2, server.name);
      insert.bind_int(3, static_cast<uint64_t>(batch.promise->expect));
      if (!insert.ok() || insert.run() != SQLITE_DONE) return fail("writing the promise");
    }
  }
  if (batch.hard_state) {
    Statement upsert(cached("INSERT INTO raft_hard_state (id, term, vote, commit_index) "
                     "VALUES (1, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET term = excluded.term, "
                     "vote = excluded.vote, commit_index = excluded.commit_index"));
    upsert.bind_int(1, batch.hard_state->term);
    upsert.bind_int(2, batch.hard_state->vote);
    upsert.bind_int(3, batch.hard_state->commit);
    if (!upsert.ok() || upsert.run() != SQLITE_DONE) return fail("writing hard state");
  }
  if (!batch.entries.empty()) {
    // A new leader may have replaced an uncommitted suffix (Raft §5.3): drop it first.
    Statement truncate(cached("DELETE FROM raft_log WHERE log_index >= ?"));
    truncate.bind_int(1, batch.entries.front().index);
    if (!truncate.ok() || truncate.run() != SQLITE_DONE) return fail("truncating the log");
    Statement truncate_marks(
        cached("DELETE FROM raft_log_membership_entries WHERE log_index >= ?"));
    truncate_marks.bind_int(1, batch.entries.front().index);
    if (!truncate_marks.ok() || truncate_marks.run() != SQLITE_DONE) {
      return fail("truncating the log");
    }
    Statement truncate_members(cached("DELETE FROM raft_log_members WHERE log_index >= ?"));
    truncate_members.bind_int(1, batch.entries.front().index);
    if (!truncate_members.ok() || truncate_members.run() != SQLITE_DONE) {
      return fail("truncating the log");
    }
    Statement insert(cached("INSERT INTO raft_log (log_index, term, data) VALUES (?, ?, ?)"));
    if (!insert.ok()) return fail("preparing log insert");
    for (const raft::Entry& entry : batch.entries) {
      insert.bind_int(1, entry.index);
      insert.bind_int(2, entry.term);
      insert.bind_blob(3, entry.data);
      if (insert.run() != SQLITE_DONE) return fail("appending to the log");
      if (entry.type != raft::EntryType::membership) continue;
      Statement mark(cached("INSERT INTO raft_log_membership_entries (log_index) VALUES (?)"));
      mark.bind_int(1, entry.index);
      if (!mark.ok() || mark.run() != SQLITE_DONE) return fail("appending to the log");
      Statement member(cached(
          "INSERT INTO raft_log_members (log_index, server_id, voter) VALUES (?, ?, ?)"));
      if (!member.ok()) return fail("appending to the log");
      for (const auto& [ids, voter] : {std::pair{&entry.membership.voters, 1},
                                       std::pair{&entry.membership.learners, 0}}) {
        for (raft::NodeId id : *ids) {
          member.bind_int(1, entry.index);
          member.bind_int(2, id);
          member.bind_int(3, static_cast<uint64_t>(voter));
          if (member.run() != SQLITE_DONE) return fail("appending to the log");
        }
      }
    }
  }
  if (!batch.voters.empty()) {
    if (Status status = exec("DELETE FROM raft_voters;"); !status.ok()) {
      (void)exec("ROLLBACK;");
      return status;
    }
    Statement insert(cached("INSERT INTO raft_voters (server_id, name) VALUES (?, ?)"));
    for (const ServerRecord& voter : batch.voters) {
      insert.bind_int(1, voter.server_id);
      insert.bind_text(2, voter.name);
      if (!insert.ok() || insert.run() != SQLITE_DONE) return fail("writing voters");
    }
  }
  if (batch.known_members) {
    if (Status status = exec("DELETE FROM known_members;"); !status.ok()) {
      (void)exec("ROLLBACK;");
      return status;
    }
    Statement insert(cached("INSERT OR REPLACE INTO known_members (address, name) VALUES (?, ?)"));
    for (const KnownMember& member : *batch.known_members) {
      insert.bind_text(1, member.address);
      insert.bind_text(2, member.name);
      if (!insert.ok() || insert.run() != SQLITE_DONE) return fail("writing known members");
    }
  }
  if (!batch.state.deletes.empty()) {
    Statement remove(cached("DELETE FROM state_rows WHERE space = ? AND key = ?"));
    if (!remove.ok()) return fail("preparing state row delete");
    for (const StateRowKey& row : batch.state.deletes) {
      remove.bind_int(1, row.space);
      remove.bind_blob(2, row.key);
      if (remove.run() != SQLITE_DONE) return fail("deleting a state row");
    }
  }
  if (!batch.state.upserts.empty()) {
    Statement upsert(cached("INSERT INTO state_rows (space, key, value) VALUES (?, ?, ?) "
                     "ON CONFLICT(space, key) DO UPDATE SET value = excluded.value"));
    if (!upsert.ok()) return fail("preparing state row upsert");
    for (const StateRow& row : batch.state.upserts) {
      upsert.bind_int(1, row.space);
      upsert.bind_blob(2, row.key);
      upsert.bind_blob(3, row.value);
      if (upsert.run() != SQLITE_DONE) return fail("writing a state row");
    }
  }
  if (batch.state.applied_index != 0) {
    Statement position(cached("INSERT INTO state_position (id, applied_index) VALUES (1, ?) "
                       "ON CONFLICT(id) DO UPDATE SET applied_index = excluded.applied_index"));
    position.bind_int(1, batch.state.applied_index);
    if (!position.ok() || position.run() != SQLITE_DONE) return fail("writing state position");
  }
  Statement counter(cached("INSERT INTO store_position (id, persisted_batches) VALUES (1, ?) "
                    "ON CONFLICT(id) DO UPDATE SET persisted_batches = excluded.persisted_batches"));
  counter.bind_int(1, watermark_.batches + 1);
  if (!counter.ok() || counter.run() != SQLITE_DONE) return fail("writing the batch counter");
  if (Status status = run_cached("COMMIT;"); !status.ok()) {
    (void)exec("ROLLBACK;");
    return status;
  }
  // After the commit, before the caller sends anything that depends on the batch.
  watermark_.batches += 1;
  if (batch.hard_state) {
    watermark_.term = batch.hard_state->term;
    watermark_.commit = batch.hard_state->commit;
  }
  return write_watermark();
}

}  // namespace conclave::store
