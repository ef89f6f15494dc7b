// MemoryStore: the same durable-state semantics as Store, held in memory. The simulator uses it
// as each node's "disk"; a test runs the same batches through both and compares what they load.
#pragma once

#include "store/records.h"

namespace conclave::store {

class MemoryStore {
 public:
  // Same contract as Store::persist (replace the log suffix, upsert rows, move the position).
  void persist(const Batch& batch);
  // What a restart would load.
  const RecoveredState& load() const { return state_; }

 private:
  RecoveredState state_;
};

}  // namespace conclave::store
