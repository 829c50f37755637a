#include "engine/operator.h"

#include "common/check.h"

namespace medallion::engine {

arrow::Status OperatorChain::Run(BatchFlow* flow) {
  for (const auto& op : operators_) ARROW_RETURN_NOT_OK(op->Consume(flow));
  for (const auto& op : operators_) ARROW_RETURN_NOT_OK(op->Finish(flow));
  return arrow::Status::OK();
}

std::vector<StatePart> OperatorChain::StateParts() {
  std::vector<StatePart> parts;
  for (const auto& op : operators_) {
    for (StatePart& part : op->StateParts()) parts.push_back(std::move(part));
  }
  return parts;
}

Operator* OperatorChain::PartitionState() const {
  Operator* found = nullptr;
  for (const auto& op : operators_) {
    if (op->scope() != StateScope::kPartition) continue;
    MEDALLION_CHECK(found == nullptr);  // a member's partition state file holds one operator's bytes
    found = op.get();
  }
  return found;
}

}  // namespace medallion::engine
