// A whole-state snapshot (Raft snapshot data) <-> wire/state.fbs StateSnapshot.
#include <algorithm>

#include "wire/codec.h"
#include "wire/codec_internal.h"
#include "wire/snapshot_codec.h"
#include "wire/state_generated.h"

namespace conclave::wire {

namespace fbs = fb::state;
using detail::FieldReader;
using detail::Where;

std::string encode_state_snapshot(const std::vector<store::StateRow>& rows) {
  size_t bytes = 64;
  for (const store::StateRow& row : rows) bytes += row.key.size() + row.value.size() + 32;
  flatbuffers::FlatBufferBuilder builder(bytes);
  std::vector<flatbuffers::Offset<fbs::SnapshotRow>> tables;
  tables.reserve(rows.size());
  for (const store::StateRow& row : rows) {
    const auto key = detail::optional_bytes(builder, row.key);
    const auto value = detail::optional_bytes(builder, row.value);
    tables.push_back(fbs::CreateSnapshotRow(builder, row.space, key, value));
  }
  const auto vector = tables.empty() ? 0 : builder.CreateVector(tables);
  builder.Finish(fbs::CreateStateSnapshot(builder, kProtocolVersion, vector));
  return detail::finish_to_string(builder);
}

Result<std::vector<store::StateRow>> decode_state_snapshot(std::string_view bytes,
                                                           size_t max_rows) {
  const Where where("state snapshot");
  const detail::VerifyLimits limits{
      .max_bytes = bytes.size(),
      .max_depth = 8,
      .max_tables = static_cast<flatbuffers::uoffset_t>(std::min<size_t>(max_rows + 2, 1u << 30))};
  Result<detail::VerifiedBuffer> verified =
      detail::VerifiedBuffer::verify<fbs::StateSnapshot>(bytes, limits, where);
  if (!verified.ok()) return verified.error();
  const auto* table = verified.value().root<fbs::StateSnapshot>();
  CONCLAVE_WIRE_TRY(detail::check_version(table->version(), where));
  const auto* rows = table->rows();
  CONCLAVE_WIRE_TRY(detail::check_count(rows, max_rows, Where(where, "rows")));
  FieldReader reader(bytes.size());
  std::vector<store::StateRow> out;
  if (rows == nullptr) return out;
  out.resize(rows->size());
  for (flatbuffers::uoffset_t i = 0; i < rows->size(); ++i) {
    const fbs::SnapshotRow* row = rows->Get(i);
    out[i].space = row->space();
    CONCLAVE_WIRE_TRY(
        reader.read_bytes(row->key(), kMaxStateRecordBytes, Where(where, "row key", i), out[i].key));
    CONCLAVE_WIRE_TRY(reader.read_bytes(row->value(), kMaxStateRecordBytes,
                                        Where(where, "row value", i), out[i].value));
  }
  return out;
}

}  // namespace conclave::wire
