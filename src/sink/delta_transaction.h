#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/status.h>

#include "sink/delta_actions.h"

/// A Delta commit staged as prepare -> commit -> post-commit: the prepared entry, the
/// conflict check a lost race runs against each winning entry, and the typed outcome
/// (CommitConflict) a caller branches on.
namespace medallion::sink {

/// How many times a commit tries to write its entry before it gives up.
constexpr int kDefaultMaxCommitAttempts = 20;

/// Why a commit did not write its entry.
enum class CommitConflict {
  /// A winning entry changed the table's metaData (schema, partitioning, properties).
  kMetadataChanged,
  /// A winning entry changed the protocol.
  kProtocolChanged,
  /// A file this commit removes (the files it read) was removed by a winning entry, or
  /// was no longer live when the commit was prepared.
  kConcurrentDelete,
  /// This commit rewrites the whole table and a winning entry added a file: that file would
  /// stay live beside the rewrite.
  kConcurrentAppend,
  /// A winning entry carries one of this commit's txns (same appId, same or newer version): the
  /// batch is already in the table and must not be written twice.
  kTxnAlreadyCommitted,
  /// A winning entry carries a txn of one of this commit's sources, and the commit owns its
  /// sources (CommitOptions::sources_owned): another writer moved that source (a Kafka
  /// partition) on since this writer read the table, so it is no longer this writer's; or it
  /// carries this commit's own app id (another instance doing this writer's work: a second
  /// Gold stage).
  kSourceTaken,
  /// Every attempt lost its race to an entry that did not conflict.
  kRetriesExhausted,
  /// A winning entry could not be read back.
  kIo,
};

/// "metadata changed", "concurrent delete", ...
const char* CommitConflictName(CommitConflict conflict);

/// The typed detail on a Status returned by a failed commit. `version` is the winning
/// entry's version (for kTxnAlreadyCommitted, the entry that holds the txn);
/// `attempts` is how many writes the commit tried.
class CommitConflictDetail : public arrow::StatusDetail {
 public:
  CommitConflictDetail(CommitConflict conflict, int64_t version, int attempts)
      : conflict_(conflict), version_(version), attempts_(attempts) {}

  static constexpr const char* kTypeId = "medallion::sink::CommitConflictDetail";
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override;

  CommitConflict conflict() const { return conflict_; }
  int64_t version() const { return version_; }
  int attempts() const { return attempts_; }

 private:
  CommitConflict conflict_;
  int64_t version_;
  int attempts_;
};

/// A Status carrying a CommitConflictDetail: AlreadyExists for kTxnAlreadyCommitted,
/// IOError for kRetriesExhausted and kIo, Invalid for the real conflicts.
arrow::Status CommitConflictStatus(CommitConflict conflict, int64_t version, int attempts,
                                   const std::string& message);

/// The conflict a commit's Status carries, if it carries one.
std::optional<CommitConflict> ConflictOf(const arrow::Status& status);

/// The CommitConflictDetail a commit's Status carries, or null.
std::shared_ptr<CommitConflictDetail> ConflictDetailOf(const arrow::Status& status);

/// Txn actions beyond the query's: (appId, version) pairs, one per appId.
using SourceTxns = std::vector<std::pair<std::string, int64_t>>;

/// How a commit records itself, beyond its actions (DeltaLog::Prepare).
struct CommitOptions {
  /// The dataChange flag of every add and remove. False for a commit that only rearranges
  /// rows already in the table (Delta's OPTIMIZE): streaming readers of the table skip it,
  /// and an append by another writer meanwhile never conflicts with it.
  bool data_change = true;
  /// commitInfo operationParameters recorded after the ones Prepare sets.
  std::vector<std::pair<std::string, std::string>> parameters;
  /// The source positions the commit's rows bring the table to, as more txn actions: for
  /// medallion, each Kafka partition of the batch with its next offset, appId
  /// "<query id>/<topic>/<partition>" (as kafka-delta-ingest records its progress), so that
  /// any Delta reader sees which offsets a table holds.
  SourceTxns source_txns;
  /// True when this writer owns the sources of `source_txns` (group mode: the Kafka
  /// partitions the consumer group assigned it). The commit is then a compare-and-set on each
  /// source's position: any winning entry that carries one of them, at any version, is
  /// kSourceTaken. Without it only an entry at our version or later conflicts. The commit's
  /// own app id is then owned too: a winning entry carrying it is kSourceTaken.
  bool sources_owned = false;
};

/// One commit, assembled from the snapshot at `read_version`: its actions are fixed, so
/// every attempt writes the same entry (see EntryJson).
struct PreparedCommit {
  std::string table_name;
  int64_t read_version = -1;
  std::string operation;
  int64_t timestamp_ms = 0;
  /// Empty when the commit carries no txn.
  std::string app_id;
  int64_t txn_version = -1;
  /// CommitOptions::source_txns and sources_owned.
  SourceTxns source_txns;
  bool sources_owned = false;
  std::vector<DeltaAddFile> adds;
  /// Copies of the live adds at `read_version`; they are also the files the commit read.
  std::vector<DeltaRemoveFile> removes;
  /// A new metaData, when the commit changes it.
  std::optional<DeltaMetadata> metadata;
  /// Extra commitInfo operationParameters.
  std::vector<std::pair<std::string, std::string>> parameters;

  /// True when `removes` are every file live at `read_version` (a Replace, as Gold's): the
  /// commit stands for the whole table, so a file another writer adds meanwhile conflicts.
  bool rewrites_table = false;
  /// Only adds: Delta's blind append, which never conflicts with another append.
  bool blind_append() const { return removes.empty() && !metadata.has_value(); }

  /// The newline-delimited actions: commitInfo, metaData, txn (the query's, then the
  /// source txns), removes, adds.
  std::string EntryJson() const;
};

/// The conflict check of a commit that lost its race: OK when `winner` (the entry at
/// `winner_version`, written since `ours.read_version`) leaves `ours` valid at the next
/// version; otherwise the typed conflict, checked in this order: the winner carries our
/// txn or one of its source txns (kTxnAlreadyCommitted; any txn of an owned source,
/// kSourceTaken), changed the protocol or metaData, removed a file that
/// `ours` removes, or added a file while `ours` rewrites the table (kConcurrentAppend, as
/// Delta's concurrent append against a read of the whole table). Appends never conflict
/// with appends.
arrow::Status CheckConflict(const PreparedCommit& ours, const DeltaEntrySummary& winner,
                            int64_t winner_version, int attempts);

}  // namespace medallion::sink
