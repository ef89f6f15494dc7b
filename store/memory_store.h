// MemoryStore: the same durable-state semantics as Store, held in memory. The simulator uses it
// as each node's "disk"; a test runs the same batches through both and compares what they load.
// Like Store it keeps a watermark outside "the database" (store/rollback.h), so the simulator
// can roll the database back (a damaged WAL) and check that the node notices.
#pragma once

#include "store/records.h"
#include "store/rollback.h"

namespace conclave::store {

class MemoryStore {
 public:
  // Same contract as Store::persist (replace the log suffix, upsert rows, move the position).
  // Precondition: not rolled back (Store::persist refuses; here it is a contract violation).
  void persist(const Batch& batch);
  // What a restart would load, with `damage` set when it is older than the watermark.
  RecoveredState load() const;

  // Fault injection for the simulator. wipe(): the disk is replaced (nothing survives, the
  // watermark included). roll_back_to(older): the database reverts to an earlier state while
  // the watermark stays (a WAL that lost frames).
  void wipe() { *this = MemoryStore(); }
  void roll_back_to(const RecoveredState& older) { state_ = older; }
  // The state as persisted, without the damage check (a snapshot to roll back to later).
  const RecoveredState& raw() const { return state_; }

 private:
  RecoveredState state_;
  Watermark watermark_;
};

}  // namespace conclave::store
