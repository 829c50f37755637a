#include "sink/delta_transaction.h"

#include <algorithm>

namespace medallion::sink {

const char* CommitConflictName(CommitConflict conflict) {
  switch (conflict) {
    case CommitConflict::kMetadataChanged:
      return "metadata changed";
    case CommitConflict::kProtocolChanged:
      return "protocol changed";
    case CommitConflict::kConcurrentDelete:
      return "concurrent delete";
    case CommitConflict::kConcurrentAppend:
      return "concurrent append";
    case CommitConflict::kTxnAlreadyCommitted:
      return "txn already committed";
    case CommitConflict::kSourceTaken:
      return "source taken";
    case CommitConflict::kRetriesExhausted:
      return "retries exhausted";
    case CommitConflict::kIo:
      return "unreadable log entry";
  }
  return "unknown";
}

std::string CommitConflictDetail::ToString() const {
  return std::string("commit conflict: ") + CommitConflictName(conflict_) + " (version " +
         std::to_string(version_) + ", attempt " + std::to_string(attempts_) + ")";
}

arrow::Status CommitConflictStatus(CommitConflict conflict, int64_t version, int attempts,
                                   const std::string& message) {
  arrow::StatusCode code = arrow::StatusCode::Invalid;
  if (conflict == CommitConflict::kTxnAlreadyCommitted) code = arrow::StatusCode::AlreadyExists;
  if (conflict == CommitConflict::kRetriesExhausted || conflict == CommitConflict::kIo) {
    code = arrow::StatusCode::IOError;
  }
  return arrow::Status(code, message,
                       std::make_shared<CommitConflictDetail>(conflict, version, attempts));
}

std::shared_ptr<CommitConflictDetail> ConflictDetailOf(const arrow::Status& status) {
  const auto& detail = status.detail();
  if (detail == nullptr || std::string(detail->type_id()) != CommitConflictDetail::kTypeId) {
    return nullptr;
  }
  return std::static_pointer_cast<CommitConflictDetail>(detail);
}

std::optional<CommitConflict> ConflictOf(const arrow::Status& status) {
  auto detail = ConflictDetailOf(status);
  if (detail == nullptr) return std::nullopt;
  return detail->conflict();
}

std::string PreparedCommit::EntryJson() const {
  std::string entry = CommitInfoActionJson(operation, timestamp_ms, parameters, blind_append()) + "\n";
  if (metadata.has_value()) entry += MetadataActionJson(*metadata) + "\n";
  if (!app_id.empty()) entry += TxnActionJson(app_id, DeltaTxn{txn_version, timestamp_ms}) + "\n";
  for (const auto& [source, version] : source_txns) {
    entry += TxnActionJson(source, DeltaTxn{version, timestamp_ms}) + "\n";
  }
  for (const auto& remove : removes) entry += RemoveActionJson(remove) + "\n";
  for (const auto& add : adds) entry += AddActionJson(add) + "\n";
  return entry;
}

arrow::Status CheckConflict(const PreparedCommit& ours, const DeltaEntrySummary& winner,
                            int64_t winner_version, int attempts) {
  const std::string where = "table " + ours.table_name + ": version " + std::to_string(winner_version);
  auto check_txn = [&](const std::string& app_id, int64_t version) -> arrow::Status {
    auto it = winner.txns.find(app_id);
    if (it == winner.txns.end() || it->second < version) return arrow::Status::OK();
    return CommitConflictStatus(CommitConflict::kTxnAlreadyCommitted, winner_version, attempts,
                                where + " written by another writer already holds txn " +
                                    std::to_string(it->second) + " of " + app_id);
  };
  if (ours.sources_owned && !ours.app_id.empty() && winner.txns.contains(ours.app_id) &&
      winner.txns.at(ours.app_id) != ours.txn_version) {
    // Only this writer commits under its app id (a member's own, the one Gold stage's): a
    // second writer using it at another version is another instance doing the same work. At
    // our version it is kTxnAlreadyCommitted below, as for a commit of ours that landed
    // although its write reported an error.
    return CommitConflictStatus(CommitConflict::kSourceTaken, winner_version, attempts,
                                where + " written by another writer carries txn " +
                                    std::to_string(winner.txns.at(ours.app_id)) + " of " + ours.app_id +
                                    ", this writer's own: two instances are doing the same work");
  }
  if (!ours.app_id.empty()) ARROW_RETURN_NOT_OK(check_txn(ours.app_id, ours.txn_version));
  for (const auto& [source, version] : ours.source_txns) {
    auto it = winner.txns.find(source);
    if (ours.sources_owned && it != winner.txns.end()) {
      return CommitConflictStatus(CommitConflict::kSourceTaken, winner_version, attempts,
                                  where + " written by another writer moved " + source + " to " +
                                      std::to_string(it->second) + ": it is no longer this writer's");
    }
    ARROW_RETURN_NOT_OK(check_txn(source, version));
  }
  if (winner.has_protocol) {
    return CommitConflictStatus(CommitConflict::kProtocolChanged, winner_version, attempts,
                                where + ": protocol changed by another writer; reopen the table");
  }
  if (winner.has_metadata) {
    return CommitConflictStatus(CommitConflict::kMetadataChanged, winner_version, attempts,
                                where + ": metaData changed by another writer; reopen the table");
  }
  for (const auto& remove : ours.removes) {
    if (std::find(winner.removed.begin(), winner.removed.end(), remove.path) != winner.removed.end()) {
      return CommitConflictStatus(CommitConflict::kConcurrentDelete, winner_version, attempts,
                                  where + ": another writer removed '" + remove.path +
                                      "', which this commit read and removes");
    }
  }
  if (ours.rewrites_table && !winner.added.empty()) {
    return CommitConflictStatus(CommitConflict::kConcurrentAppend, winner_version, attempts,
                                where + ": another writer added '" + winner.added.front() +
                                    "' while this commit rewrites the whole table; reopen the table");
  }
  return arrow::Status::OK();
}

}  // namespace medallion::sink
