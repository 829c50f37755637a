#include "engine/pending_appends.h"

#include <algorithm>
#include <span>

#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/byte_size.h>
#include <arrow/util/logging.h>

#include "ops/state_codec.h"

namespace medallion::engine {
namespace {

constexpr std::string_view kTag = "engine.pending_appends";
constexpr std::string_view kDeltaTag = "engine.pending_appends.delta";

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
    bytes_ += arrow::util::ReferencedBufferSize(*batch).ValueOr(0);
    added = true;
  }
  if (!added) return;
  for (const auto& source : sources) {  // not a structured binding: clang 14 cannot capture one
    auto it = std::find_if(sources_.begin(), sources_.end(), [&](const auto& s) { return s.first == source.first; });
    if (it == sources_.end()) {
      sources_.push_back(source);
    } else {
      it->second = std::max(it->second, source.second);
    }
  }
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

}  // namespace medallion::engine
