#include "engine/pending_appends.h"

#include <algorithm>
#include <span>

#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/logging.h>

#include "common/arrow_bytes.h"
#include "ops/state_codec.h"

namespace medallion::engine {
namespace {

constexpr std::string_view kTag = "engine.pending_appends";
constexpr std::string_view kDeltaTag = "engine.pending_appends.delta";
constexpr std::string_view kBronzeTag = "engine.held_bronze";

void WritePositions(const sink::SourceTxns& sources, ops::StateWriter* w) {
  w->WriteInt<uint64_t>(sources.size());
  for (const auto& [app, position] : sources) {
    w->WriteString(app);
    w->WriteInt<int64_t>(position);
  }
}

arrow::Result<sink::SourceTxns> ReadPositions(ops::StateReader* r) {
  ARROW_ASSIGN_OR_RAISE(const uint64_t n, r->ReadCount(12));
  sink::SourceTxns sources;
  for (uint64_t i = 0; i < n; ++i) {
    ARROW_ASSIGN_OR_RAISE(std::string app, r->ReadString());
    ARROW_ASSIGN_OR_RAISE(const int64_t position, r->ReadInt<int64_t>());
    sources.emplace_back(std::move(app), position);
  }
  return sources;
}

/// Adds `sources` to `into`: a partition's position is the latest of the two.
void MergeSources(const sink::SourceTxns& sources, sink::SourceTxns* into) {
  for (const auto& source : sources) {  // not a structured binding: clang 14 cannot capture one
    auto it = std::find_if(into->begin(), into->end(), [&](const auto& s) { return s.first == source.first; });
    if (it == into->end()) {
      into->push_back(source);
    } else {
      it->second = std::max(it->second, source.second);
    }
  }
}

/// `rows` as an Arrow IPC stream; empty when there are none.
std::string IpcOf(const std::shared_ptr<arrow::Schema>& schema,
                  std::span<const std::shared_ptr<arrow::RecordBatch>> rows) {
  if (rows.empty()) return "";
  // The IPC stream of rows already in memory cannot fail but for memory itself.
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  auto writer = arrow::ipc::MakeStreamWriter(sink, schema).ValueOrDie();
  for (const auto& batch : rows) ARROW_CHECK_OK(writer->WriteRecordBatch(*batch));
  ARROW_CHECK_OK(writer->Close());
  return sink->Finish().ValueOrDie()->ToString();
}

/// The rows of an IPC stream from IpcOf, checked to be of `schema` and valid.
arrow::Result<std::vector<std::shared_ptr<arrow::RecordBatch>>> RowsOf(const std::string& ipc,
                                                                      const std::shared_ptr<arrow::Schema>& schema) {
  if (ipc.empty()) return std::vector<std::shared_ptr<arrow::RecordBatch>>{};
  auto input = std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(ipc));
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(input);
  if (!reader.ok()) return arrow::Status::Invalid("pending rows: ", reader.status().message());
  if (!(*reader)->schema()->Equals(*schema)) {
    return arrow::Status::Invalid("pending rows: their schema is not the table's: ", (*reader)->schema()->ToString());
  }
  auto batches = (*reader)->ToRecordBatches();
  if (!batches.ok()) return arrow::Status::Invalid("pending rows: ", batches.status().message());
  for (const auto& batch : *batches) ARROW_RETURN_NOT_OK(batch->ValidateFull());
  return std::move(*batches);
}

/// The positions and rows a snapshot or delta holds, after whatever precedes them.
struct Held {
  sink::SourceTxns sources;
  std::vector<std::shared_ptr<arrow::RecordBatch>> rows;
};

/// Reads the positions and the rows' IPC stream that end a snapshot or delta.
arrow::Result<Held> ReadHeld(ops::StateReader* r, const std::shared_ptr<arrow::Schema>& schema) {
  Held held;
  ARROW_ASSIGN_OR_RAISE(held.sources, ReadPositions(r));
  ARROW_ASSIGN_OR_RAISE(const std::string ipc, r->ReadString());
  ARROW_RETURN_NOT_OK(r->Finish());
  ARROW_ASSIGN_OR_RAISE(held.rows, RowsOf(ipc, schema));
  return held;
}

}  // namespace

void PendingAppends::Add(const std::vector<std::shared_ptr<arrow::RecordBatch>>& rows,
                         const sink::SourceTxns& sources) {
  bool added = false;
  for (const auto& batch : rows) {
    if (batch == nullptr || batch->num_rows() == 0) continue;
    rows_.push_back(batch);
    num_rows_ += batch->num_rows();
    bytes_ += ValueBytes(*batch);
    added = true;
  }
  if (added) MergeSources(sources, &sources_);
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> PendingAppends::Rows() const {
  if (rows_.empty()) return arrow::RecordBatch::MakeEmpty(schema_);
  if (rows_.size() == 1) return rows_.front();
  return arrow::ConcatenateRecordBatches(rows_);
}

void PendingAppends::Clear() {
  rows_.clear();
  sources_.clear();
  num_rows_ = 0;
  bytes_ = 0;
  cleared_ = true;
  unsaved_from_ = 0;
}

std::string PendingAppends::SerializeState() {
  ops::StateWriter w(kTag, 1);
  WritePositions(sources_, &w);
  w.WriteString(IpcOf(schema_, rows_));
  MarkSaved();
  return std::move(w).Finish();
}

arrow::Status PendingAppends::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, ops::StateReader::Open(bytes, kTag, 1));
  ARROW_ASSIGN_OR_RAISE(Held held, ReadHeld(&r, schema_));
  Clear();
  Add(held.rows, held.sources);
  MarkSaved();
  return arrow::Status::OK();
}

std::string PendingAppends::SerializeDelta() {
  ops::StateWriter w(kDeltaTag, 1);
  w.WriteBool(cleared_);
  WritePositions(sources_, &w);
  w.WriteString(IpcOf(schema_, std::span(rows_).subspan(unsaved_from_)));
  MarkSaved();
  return std::move(w).Finish();
}

arrow::Status PendingAppends::ApplyDelta(std::string_view bytes) {
  if (ops::StateReader::PeekTag(bytes) == kTag) return RestoreState(bytes);
  ARROW_ASSIGN_OR_RAISE(auto r, ops::StateReader::Open(bytes, kDeltaTag, 1));
  ARROW_ASSIGN_OR_RAISE(const bool cleared, r.ReadBool());
  ARROW_ASSIGN_OR_RAISE(Held held, ReadHeld(&r, schema_));
  if (cleared) Clear();
  Add(held.rows, {});
  sources_ = std::move(held.sources);
  MarkSaved();
  return arrow::Status::OK();
}

void HeldBronze::Add(std::shared_ptr<arrow::RecordBatch> rows, int64_t ingest_time_us,
                     const source::BatchOffsets& offsets, const sink::SourceTxns& sources) {
  if (rows == nullptr || rows->num_rows() == 0) return;
  num_rows_ += rows->num_rows();
  bytes_ += ValueBytes(*rows);
  batches_.push_back({ingest_time_us, offsets, std::move(rows)});
  MergeSources(sources, &sources_);
}

bool HeldBronze::needs_refill() const {
  return std::any_of(batches_.begin(), batches_.end(), [](const Batch& b) { return b.rows == nullptr; });
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> HeldBronze::Rows() const {
  std::vector<std::shared_ptr<arrow::RecordBatch>> rows;
  for (const Batch& b : batches_) {
    if (b.rows == nullptr) return arrow::Status::Invalid("held Bronze rows not read again from the topic yet");
    rows.push_back(b.rows);
  }
  if (rows.size() == 1) return rows.front();
  return arrow::ConcatenateRecordBatches(rows);
}

void HeldBronze::Clear() {
  batches_.clear();
  sources_.clear();
  num_rows_ = 0;
  bytes_ = 0;
}

arrow::Status HeldBronze::Refill(const Reader& read) {
  std::vector<const Batch*> missing;
  for (const Batch& b : batches_) {
    if (b.rows == nullptr) missing.push_back(&b);
  }
  if (missing.empty()) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto rows, read(missing));
  if (rows.size() != missing.size()) {
    return arrow::Status::Invalid("held Bronze: ", missing.size(), " batches to read again, ", rows.size(), " read");
  }
  size_t i = 0;
  for (Batch& b : batches_) {
    if (b.rows != nullptr) continue;
    b.rows = std::move(rows[i++]);
    num_rows_ += b.rows->num_rows();
    bytes_ += ValueBytes(*b.rows);
  }
  return arrow::Status::OK();
}

std::string HeldBronze::SerializeState() const {
  ops::StateWriter w(kBronzeTag, 1);
  WritePositions(sources_, &w);
  w.WriteInt<uint64_t>(batches_.size());
  for (const Batch& b : batches_) {
    w.WriteInt<int64_t>(b.ingest_time_us);
    w.WriteInt<uint64_t>(b.offsets.size());
    for (const auto& [partition, range] : b.offsets) {
      w.WriteInt<int32_t>(partition);
      w.WriteInt<int64_t>(range.start);
      w.WriteInt<int64_t>(range.end);
    }
  }
  return std::move(w).Finish();
}

arrow::Status HeldBronze::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, ops::StateReader::Open(bytes, kBronzeTag, 1));
  ARROW_ASSIGN_OR_RAISE(sink::SourceTxns sources, ReadPositions(&r));
  ARROW_ASSIGN_OR_RAISE(const uint64_t n, r.ReadCount(16));
  std::vector<Batch> batches(n);
  for (Batch& b : batches) {
    ARROW_ASSIGN_OR_RAISE(b.ingest_time_us, r.ReadInt<int64_t>());
    ARROW_ASSIGN_OR_RAISE(const uint64_t ranges, r.ReadCount(20));
    for (uint64_t i = 0; i < ranges; ++i) {
      ARROW_ASSIGN_OR_RAISE(const int32_t partition, r.ReadInt<int32_t>());
      ARROW_ASSIGN_OR_RAISE(const int64_t start, r.ReadInt<int64_t>());
      ARROW_ASSIGN_OR_RAISE(const int64_t end, r.ReadInt<int64_t>());
      if (partition < 0 || start < 0 || end < start) {
        return arrow::Status::Invalid("held Bronze: partition ", partition, " range [", start, ", ", end,
                                      ") is impossible");
      }
      if (!b.offsets.emplace(partition, source::OffsetRange{start, end}).second) {
        return arrow::Status::Invalid("held Bronze: partition ", partition, " twice in one batch");
      }
    }
  }
  ARROW_RETURN_NOT_OK(r.Finish());
  Clear();
  batches_ = std::move(batches);
  sources_ = std::move(sources);
  return arrow::Status::OK();
}

}  // namespace medallion::engine
