#include "sink/parquet_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include <arrow/io/buffered.h>
#include <arrow/io/file.h>
#include <arrow/table.h>
#include <arrow/type_traits.h>
#include <arrow/util/compression.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include "common/arrow_bytes.h"
#include "common/fault_point.h"
#include "common/file_util.h"
#include "sink/plain_parquet.h"

namespace medallion::sink {
namespace {

arrow::Result<arrow::Compression::type> CompressionFor(const std::string& name) {
  if (name == "snappy") return arrow::Compression::SNAPPY;
  if (name == "zstd") return arrow::Compression::ZSTD;
  // Parquet's writer stores Arrow's LZ4 as the LZ4_RAW codec (not the deprecated Hadoop framing).
  if (name == "lz4_raw") return arrow::Compression::LZ4;
  if (name == "none") return arrow::Compression::UNCOMPRESSED;
  return arrow::Status::Invalid("parquet compression '", name, "': expected zstd, lz4_raw, snappy or none");
}

/// Below this many bytes of Arrow data a column chunk is compressed with LZ4 (raw), not the
/// table's codec. Arrow's ZSTD codec makes a context for every column chunk it compresses
/// (apache/arrow#48187), and making one probes the CPU, which traps to the hypervisor on a
/// virtual machine: for a chunk this small that costs about as much as the compression itself.
/// LZ4 keeps no context (nor do the other codecs offered, which are kept for every column).
/// Measured on batches of 650 records: Silver's files 29% larger than with zstd for every
/// column (Bronze's 4%), until compaction rewrites them with the table's codec. Large columns
/// (Bronze's value, ids) keep the table's codec.
constexpr int64_t kSmallColumnBytes = 16 << 10;

/// The columns of `rows` too small to be worth a ZSTD context (see kSmallColumnBytes): the
/// top-level columns of one Parquet leaf (nested ones keep the codec).
std::vector<std::string> SmallColumns(const arrow::RecordBatch& rows) {
  std::vector<std::string> small;
  for (int i = 0; i < rows.num_columns(); ++i) {
    if (arrow::is_nested(rows.schema()->field(i)->type()->id())) continue;
    if (ValueBytes(*rows.column(i)) < kSmallColumnBytes) small.push_back(rows.schema()->field(i)->name());
  }
  return small;
}

arrow::Result<int64_t> WriteParquetFileOnce(
    const std::string& path, const std::shared_ptr<arrow::Schema>& schema, const ParquetOptions& options,
    const std::vector<std::string>& small,
    const std::function<arrow::Status(parquet::arrow::FileWriter*)>& write_rows,
    std::shared_ptr<parquet::FileMetaData>* metadata);

/// Writes a Parquet file of `schema` at `path` (temp file, fsync, rename; see the header),
/// its rows given to the writer by `write_rows`. On an object store an upload that fails with
/// a transient error is sent again whole (the rows are in memory), three times at most.
/// `metadata`, when given, receives the footer. The columns named in `small` are compressed
/// with LZ4 where the table's codec is ZSTD.
arrow::Result<int64_t> WriteParquetFileWith(
    const std::string& path, const std::shared_ptr<arrow::Schema>& schema, const ParquetOptions& options,
    const std::vector<std::string>& small,
    const std::function<arrow::Status(parquet::arrow::FileWriter*)>& write_rows,
    std::shared_ptr<parquet::FileMetaData>* metadata = nullptr) {
  auto once = [&] { return WriteParquetFileOnce(path, schema, options, small, write_rows, metadata); };
  return IsObjectStorePath(path) ? RetryingStoreRequest(once) : once();
}

using EmitBytes = std::function<arrow::Status(const std::shared_ptr<arrow::io::OutputStream>&)>;

/// Writes a file at `path` whose bytes `emit` gives: on an object store in place (the object
/// appears whole at Close); on a local disk to a temp file beside it, through a buffer when
/// `buffered` (Parquet's writer emits every page header and page as a write of its own and
/// asks for the position in between, hundreds of system calls for a small file), fsynced,
/// then renamed into place and the directory fsynced. Returns the size.
arrow::Result<int64_t> WriteFileOnce(const std::string& path, bool buffered, const EmitBytes& emit) {
  if (IsObjectStorePath(path)) {
    ARROW_ASSIGN_OR_RAISE(auto out, OpenOutputFile(path));
    ARROW_RETURN_NOT_OK(emit(out));
    ARROW_ASSIGN_OR_RAISE(const int64_t size, out->Tell());
    FaultPoint("parquet.before_sync");
    ARROW_RETURN_NOT_OK(out->Close());
    return size;
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::FileOutputStream::Open(tmp));
  std::shared_ptr<arrow::io::OutputStream> out = file;
  if (buffered) {
    ARROW_ASSIGN_OR_RAISE(out, arrow::io::BufferedOutputStream::Create(1 << 20, arrow::default_memory_pool(), file));
  }
  ARROW_RETURN_NOT_OK(emit(out));
  ARROW_ASSIGN_OR_RAISE(const int64_t size, out->Tell());
  ARROW_RETURN_NOT_OK(out->Flush());
  FaultPoint("parquet.before_sync");
  ARROW_RETURN_NOT_OK(SyncFile(file->file_descriptor(), tmp));
  ARROW_RETURN_NOT_OK(out->Close());
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return arrow::Status::IOError("cannot rename '", tmp, "' to '", path, "': ", std::strerror(err));
  }
  const auto slash = path.find_last_of('/');
  ARROW_RETURN_NOT_OK(SyncDir(slash == std::string::npos ? "." : path.substr(0, slash)));
  return size;
}

arrow::Result<int64_t> WriteParquetFileOnce(
    const std::string& path, const std::shared_ptr<arrow::Schema>& schema, const ParquetOptions& options,
    const std::vector<std::string>& small,
    const std::function<arrow::Status(parquet::arrow::FileWriter*)>& write_rows,
    std::shared_ptr<parquet::FileMetaData>* metadata) {
  ARROW_ASSIGN_OR_RAISE(auto codec, CompressionFor(options.compression));
  parquet::WriterProperties::Builder builder;
  builder.compression(codec)->max_row_group_length(options.row_group_rows);
  if (options.compression_level) builder.compression_level(*options.compression_level);
  if (codec == arrow::Compression::ZSTD) {
    for (const auto& column : small) builder.compression(column, arrow::Compression::LZ4);
  }
  for (const auto& column : options.plain_columns) {
    if (schema->GetFieldIndex(column) >= 0) {
      builder.disable_dictionary(column)->disable_statistics(column);
    }
  }
  for (const auto& column : options.no_dictionary_columns) {
    if (schema->GetFieldIndex(column) >= 0) builder.disable_dictionary(column);
  }
  const auto props = builder.build();
  const auto arrow_props =
      parquet::ArrowWriterProperties::Builder().coerce_timestamps(arrow::TimeUnit::MICRO)->store_schema()->build();
  return WriteFileOnce(path, /*buffered=*/true, [&](const std::shared_ptr<arrow::io::OutputStream>& out) {
    ARROW_ASSIGN_OR_RAISE(auto writer, parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(), out,
                                                                        props, arrow_props));
    ARROW_RETURN_NOT_OK(write_rows(writer.get()));
    ARROW_RETURN_NOT_OK(writer->Close());
    if (metadata != nullptr) *metadata = writer->metadata();
    return arrow::Status::OK();
  });
}

/// Writes `batch` with EncodePlainParquet: the table's codec and level, LZ4_RAW for the columns
/// too small for a ZSTD context (SmallColumns), as Arrow's writer is told.
arrow::Result<int64_t> WritePlainParquetFile(const std::string& path, const arrow::RecordBatch& batch,
                                             const ParquetOptions& options) {
  PlainParquetOptions plain;
  ARROW_ASSIGN_OR_RAISE(plain.codec, CompressionFor(options.compression));
  plain.level = options.compression_level;
  if (plain.codec == arrow::Compression::ZSTD) plain.lz4_columns = SmallColumns(batch);
  ARROW_ASSIGN_OR_RAISE(auto bytes, EncodePlainParquet(batch, plain));
  return WriteFileFrom(path, [&](arrow::io::OutputStream* out) { return out->Write(bytes); });
}

}  // namespace

arrow::Result<int64_t> WriteFileFrom(const std::string& path,
                                     const std::function<arrow::Status(arrow::io::OutputStream*)>& emit) {
  auto once = [&] {
    return WriteFileOnce(path, /*buffered=*/false,
                         [&](const std::shared_ptr<arrow::io::OutputStream>& out) { return emit(out.get()); });
  };
  return IsObjectStorePath(path) ? RetryingStoreRequest(once) : once();
}

arrow::Status CheckCompression(const std::string& name, std::optional<int> level) {
  ARROW_ASSIGN_OR_RAISE(auto codec, CompressionFor(name));
  if (!level) return arrow::Status::OK();
  if (!arrow::util::Codec::SupportsCompressionLevel(codec)) {
    return arrow::Status::Invalid("parquet compression '", name, "' has no levels: remove compression_level");
  }
  ARROW_ASSIGN_OR_RAISE(int low, arrow::util::Codec::MinimumCompressionLevel(codec));
  ARROW_ASSIGN_OR_RAISE(int high, arrow::util::Codec::MaximumCompressionLevel(codec));
  if (*level < low || *level > high) {
    return arrow::Status::Invalid("parquet compression_level ", *level, " for ", name, ": expected ", low,
                                  " to ", high);
  }
  return arrow::Status::OK();
}

arrow::Result<int64_t> WriteParquetFile(const std::string& path, const arrow::RecordBatch& batch,
                                        const ParquetOptions& options,
                                        std::shared_ptr<parquet::FileMetaData>* metadata) {
  if (batch.num_rows() > 0 && batch.num_rows() < options.plain_below_rows && PlainParquetWritable(*batch.schema())) {
    if (metadata != nullptr) metadata->reset();
    return WritePlainParquetFile(path, batch, options);
  }
  return WriteParquetFileWith(
      path, batch.schema(), options, SmallColumns(batch),
      [&](parquet::arrow::FileWriter* writer) { return writer->WriteRecordBatch(batch); }, metadata);
}

arrow::Result<int64_t> WriteParquetFile(const std::string& path, const arrow::Table& table,
                                        const ParquetOptions& options,
                                        std::shared_ptr<parquet::FileMetaData>* metadata) {
  return WriteParquetFileWith(
      path, table.schema(), options, {},
      [&](parquet::arrow::FileWriter* writer) { return writer->WriteTable(table, options.row_group_rows); },
      metadata);
}

}  // namespace medallion::sink
