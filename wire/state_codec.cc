// The state machine's records <-> wire/state.fbs (rows in store/, chunks of snapshots).
#include "wire/codec.h"
#include "wire/codec_internal.h"
#include "wire/state_generated.h"

namespace conclave::wire {

namespace fbs = fb::state;
using detail::FieldReader;
using detail::malformed;
using detail::optional_bytes;
using detail::optional_string;
using detail::Where;

namespace {

detail::VerifyLimits record_limits(flatbuffers::uoffset_t max_tables) {
  return detail::VerifyLimits{.max_bytes = kMaxStateRecordBytes, .max_depth = 8,
                              .max_tables = max_tables};
}

template <typename Table>
Result<const Table*> verified_root(std::string_view bytes, const Where& where,
                                   flatbuffers::uoffset_t max_tables,
                                   detail::VerifiedBuffer*& keep,
                                   std::optional<detail::VerifiedBuffer>& storage) {
  Result<detail::VerifiedBuffer> verified =
      detail::VerifiedBuffer::verify<Table>(bytes, record_limits(max_tables), where);
  if (!verified.ok()) return verified.error();
  storage.emplace(std::move(verified).value());
  keep = &*storage;
  const Table* table = keep->root<Table>();
  CONCLAVE_WIRE_TRY(detail::check_version(table->version(), where));
  return table;
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> string_set(
    flatbuffers::FlatBufferBuilder& builder, const std::set<std::string>& values) {
  if (values.empty()) return 0;
  std::vector<flatbuffers::Offset<flatbuffers::String>> strings;
  for (const std::string& value : values) strings.push_back(builder.CreateString(value));
  return builder.CreateVector(strings);
}

Status read_string_set(const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* in,
                       FieldReader& reader, const Where& where, std::set<std::string>& out) {
  if (in == nullptr) return Status();
  CONCLAVE_WIRE_TRY(detail::check_count(in, kMaxListedItems, where));
  for (flatbuffers::uoffset_t i = 0; i < in->size(); ++i) {
    std::string value;
    CONCLAVE_WIRE_TRY(reader.read_string(in->Get(i), kMaxLockNameBytes, Where(where, "item", i),
                                         value));
    out.insert(std::move(value));
  }
  return Status();
}

}  // namespace

std::string encode_state_meta(const StateMeta& meta) {
  flatbuffers::FlatBufferBuilder builder(64);
  builder.Finish(fbs::CreateStateMeta(builder, kProtocolVersion, meta.applied_index,
                                      meta.kv_revision, meta.time_ms, meta.last_fencing_token));
  return detail::finish_to_string(builder);
}

Result<StateMeta> decode_state_meta(std::string_view bytes) {
  const Where where("state meta");
  detail::VerifiedBuffer* buffer = nullptr;
  std::optional<detail::VerifiedBuffer> storage;
  auto root = verified_root<fbs::StateMeta>(bytes, where, 4, buffer, storage);
  if (!root.ok()) return root.error();
  const fbs::StateMeta& table = *root.value();
  return StateMeta{table.applied_index(), table.kv_revision(), table.time_ms(),
                   table.last_fencing_token()};
}

std::string encode_kv_entry(const KvEntry& entry) {
  flatbuffers::FlatBufferBuilder builder(64 + entry.key.size() + entry.value.size());
  const auto key = optional_string(builder, entry.key);
  const auto value = optional_bytes(builder, entry.value);
  builder.Finish(fbs::CreateKvEntry(builder, kProtocolVersion, key, value,
                                    entry.create_revision, entry.mod_revision, entry.version));
  return detail::finish_to_string(builder);
}

Result<KvEntry> decode_kv_entry(std::string_view bytes) {
  const Where where("kv entry");
  detail::VerifiedBuffer* buffer = nullptr;
  std::optional<detail::VerifiedBuffer> storage;
  auto root = verified_root<fbs::KvEntry>(bytes, where, 4, buffer, storage);
  if (!root.ok()) return root.error();
  const fbs::KvEntry& table = *root.value();
  FieldReader reader(bytes.size());
  KvEntry entry;
  CONCLAVE_WIRE_TRY(reader.read_string(table.key(), kMaxKeyBytes, Where(where, "key"), entry.key));
  CONCLAVE_WIRE_TRY(
      reader.read_bytes(table.value(), kMaxValueBytes, Where(where, "value"), entry.value));
  entry.create_revision = table.create_revision();
  entry.mod_revision = table.mod_revision();
  entry.version = table.entry_version();
  return entry;
}

std::string encode_session_record(const SessionRecord& session) {
  flatbuffers::FlatBufferBuilder builder(256);
  const auto node = optional_string(builder, session.node);
  const auto description = optional_string(builder, session.description);
  const auto held = string_set(builder, session.held);
  const auto waiting = string_set(builder, session.waiting);
  builder.Finish(fbs::CreateSessionRecord(builder, kProtocolVersion, session.id, node,
                                          session.boot_id, session.ttl_ms, session.created_ms,
                                          session.renewed_ms, description, held, waiting));
  return detail::finish_to_string(builder);
}

Result<SessionRecord> decode_session_record(std::string_view bytes) {
  const Where where("session record");
  detail::VerifiedBuffer* buffer = nullptr;
  std::optional<detail::VerifiedBuffer> storage;
  auto root = verified_root<fbs::SessionRecord>(bytes, where, 8, buffer, storage);
  if (!root.ok()) return root.error();
  const fbs::SessionRecord& table = *root.value();
  FieldReader reader(bytes.size());
  SessionRecord session;
  session.id = table.id();
  CONCLAVE_WIRE_TRY(
      reader.read_string(table.node(), gossip::kMaxNameBytes, Where(where, "node"), session.node));
  session.boot_id = table.boot_id();
  session.ttl_ms = table.ttl_ms();
  session.created_ms = table.created_ms();
  session.renewed_ms = table.renewed_ms();
  CONCLAVE_WIRE_TRY(reader.read_string(table.description(), kMaxDescriptionBytes,
                                       Where(where, "description"), session.description));
  CONCLAVE_WIRE_TRY(read_string_set(table.held(), reader, Where(where, "held"), session.held));
  CONCLAVE_WIRE_TRY(
      read_string_set(table.waiting(), reader, Where(where, "waiting"), session.waiting));
  return session;
}

std::string encode_lock_record(const LockRecord& lock) {
  flatbuffers::FlatBufferBuilder builder(256);
  const auto name = optional_string(builder, lock.name);
  std::vector<flatbuffers::Offset<fbs::LockHolder>> holders;
  for (const LockHolder& holder : lock.holders) {
    holders.push_back(fbs::CreateLockHolder(builder, holder.session, holder.token,
                                            holder.since_ms, holder.lock_delay_ms));
  }
  std::vector<flatbuffers::Offset<fbs::LockWaiter>> waiters;
  for (const LockWaiter& waiter : lock.waiters) {
    waiters.push_back(fbs::CreateLockWaiter(builder, waiter.session, waiter.since_ms,
                                            waiter.lock_delay_ms, waiter.client_id,
                                            waiter.sequence));
  }
  const auto holders_vector = holders.empty() ? 0 : builder.CreateVector(holders);
  const auto waiters_vector = waiters.empty() ? 0 : builder.CreateVector(waiters);
  const auto blocked = lock.blocked_until.empty() ? 0 : builder.CreateVector(lock.blocked_until);
  builder.Finish(fbs::CreateLockRecord(builder, kProtocolVersion, name, lock.limit,
                                       holders_vector, waiters_vector, blocked));
  return detail::finish_to_string(builder);
}

Result<LockRecord> decode_lock_record(std::string_view bytes) {
  const Where where("lock record");
  detail::VerifiedBuffer* buffer = nullptr;
  std::optional<detail::VerifiedBuffer> storage;
  auto root = verified_root<fbs::LockRecord>(bytes, where, 3 * kMaxListedItems + 8, buffer,
                                             storage);
  if (!root.ok()) return root.error();
  const fbs::LockRecord& table = *root.value();
  FieldReader reader(bytes.size());
  LockRecord lock;
  CONCLAVE_WIRE_TRY(
      reader.read_string(table.name(), kMaxLockNameBytes, Where(where, "name"), lock.name));
  lock.limit = table.limit();
  CONCLAVE_WIRE_TRY(detail::check_count(table.holders(), kMaxListedItems, Where(where, "holders")));
  CONCLAVE_WIRE_TRY(detail::check_count(table.waiters(), kMaxListedItems, Where(where, "waiters")));
  CONCLAVE_WIRE_TRY(
      detail::check_count(table.blocked_until(), kMaxListedItems, Where(where, "blocked_until")));
  if (const auto* holders = table.holders()) {
    for (const fbs::LockHolder* holder : *holders) {
      lock.holders.push_back(LockHolder{holder->session(), holder->token(), holder->since_ms(),
                                        holder->lock_delay_ms()});
    }
  }
  if (const auto* waiters = table.waiters()) {
    for (const fbs::LockWaiter* waiter : *waiters) {
      lock.waiters.push_back(LockWaiter{waiter->session(), waiter->since_ms(),
                                        waiter->lock_delay_ms(), waiter->client_id(),
                                        waiter->sequence()});
    }
  }
  if (const auto* blocked = table.blocked_until()) {
    lock.blocked_until.assign(blocked->begin(), blocked->end());
  }
  return lock;
}

std::string encode_dedup_client(const DedupClient& client) {
  flatbuffers::FlatBufferBuilder builder(256);
  std::vector<flatbuffers::Offset<fbs::CachedAnswer>> answers;
  for (const auto& [sequence, answer] : client.answers) {
    const auto message = optional_string(builder, answer.message);
    const auto body = optional_bytes(builder, answer.body);
    answers.push_back(fbs::CreateCachedAnswer(builder, sequence,
                                              static_cast<int32_t>(answer.code), message, body,
                                              answer.waiting));
  }
  const auto answers_vector = answers.empty() ? 0 : builder.CreateVector(answers);
  builder.Finish(fbs::CreateDedupClient(builder, kProtocolVersion, client.client_id,
                                        client.last_active_ms, client.floor, answers_vector));
  return detail::finish_to_string(builder);
}

Result<DedupClient> decode_dedup_client(std::string_view bytes) {
  const Where where("dedup client");
  detail::VerifiedBuffer* buffer = nullptr;
  std::optional<detail::VerifiedBuffer> storage;
  auto root = verified_root<fbs::DedupClient>(bytes, where, kMaxListedItems + 8, buffer, storage);
  if (!root.ok()) return root.error();
  const fbs::DedupClient& table = *root.value();
  FieldReader reader(bytes.size());
  DedupClient client;
  client.client_id = table.client_id();
  client.last_active_ms = table.last_active_ms();
  client.floor = table.floor();
  CONCLAVE_WIRE_TRY(detail::check_count(table.answers(), kMaxListedItems, Where(where, "answers")));
  if (const auto* answers = table.answers()) {
    for (flatbuffers::uoffset_t i = 0; i < answers->size(); ++i) {
      const fbs::CachedAnswer* answer = answers->Get(i);
      CachedAnswer out;
      out.code = static_cast<ErrorCode>(answer->code());
      out.waiting = answer->waiting();
      CONCLAVE_WIRE_TRY(reader.read_string(answer->message(), kMaxStateRecordBytes,
                                           Where(where, "answer message", i), out.message));
      CONCLAVE_WIRE_TRY(reader.read_bytes(answer->body(), kMaxStateRecordBytes,
                                          Where(where, "answer body", i), out.body));
      client.answers[answer->sequence()] = std::move(out);
    }
  }
  return client;
}

}  // namespace conclave::wire
