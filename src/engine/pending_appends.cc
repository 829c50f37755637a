#include "engine/pending_appends.h"

#include <algorithm>

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
  for (const auto& [app, position] : sources) {
    auto it = std::find_if(sources_.begin(), sources_.end(), [&](const auto& s) { return s.first == app; });
    if (it == sources_.end()) {
      sources_.emplace_back(app, position);
    } else {
      it->second = std::max(it->second, position);
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
}

std::string PendingAppends::SerializeState() const {
  ops::StateWriter w(kTag, 1);
  w.WriteInt<uint64_t>(sources_.size());
  for (const auto& [app, position] : sources_) {
    w.WriteString(app);
    w.WriteInt<int64_t>(position);
  }
  std::string ipc;
  if (!rows_.empty()) {
    // The IPC stream of rows already in memory cannot fail but for memory itself.
    auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
    auto writer = arrow::ipc::MakeStreamWriter(sink, schema_).ValueOrDie();
    for (const auto& batch : rows_) ARROW_CHECK_OK(writer->WriteRecordBatch(*batch));
    ARROW_CHECK_OK(writer->Close());
    ipc = sink->Finish().ValueOrDie()->ToString();
  }
  w.WriteString(ipc);
  return std::move(w).Finish();
}

arrow::Status PendingAppends::RestoreState(std::string_view bytes) {
  ARROW_ASSIGN_OR_RAISE(auto r, ops::StateReader::Open(bytes, kTag, 1));
  ARROW_ASSIGN_OR_RAISE(const uint64_t n, r.ReadCount(12));
  sink::SourceTxns sources;
  for (uint64_t i = 0; i < n; ++i) {
    ARROW_ASSIGN_OR_RAISE(std::string app, r.ReadString());
    ARROW_ASSIGN_OR_RAISE(const int64_t position, r.ReadInt<int64_t>());
    sources.emplace_back(std::move(app), position);
  }
  ARROW_ASSIGN_OR_RAISE(const std::string ipc, r.ReadString());
  ARROW_RETURN_NOT_OK(r.Finish());
  std::vector<std::shared_ptr<arrow::RecordBatch>> rows;
  if (!ipc.empty()) {
    auto input = std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(ipc));
    auto reader = arrow::ipc::RecordBatchStreamReader::Open(input);
    if (!reader.ok()) return arrow::Status::Invalid("pending rows: ", reader.status().message());
    if (!(*reader)->schema()->Equals(*schema_)) {
      return arrow::Status::Invalid("pending rows: their schema is not the table's: ", (*reader)->schema()->ToString());
    }
    auto batches = (*reader)->ToRecordBatches();
    if (!batches.ok()) return arrow::Status::Invalid("pending rows: ", batches.status().message());
    for (const auto& batch : *batches) ARROW_RETURN_NOT_OK(batch->ValidateFull());
    rows = std::move(*batches);
  }
  Clear();
  if (!rows.empty()) Add(rows, sources);
  return arrow::Status::OK();
}

}  // namespace medallion::engine
