#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <arrow/record_batch.h>
#include <arrow/result.h>

#include "sink/parquet_file.h"
#include "source/fetched_records.h"

namespace medallion::engine {

/// One Bronze batch (BronzeSchema) holding a copy of `records`, in their order, every value
/// byte for byte, copied once from the fetched buffers; a record without a Kafka timestamp
/// keeps a null one, and a null key or value stays null.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> BronzeFromRecords(
    const source::FetchedRecords& records, const std::string& topic, int64_t ingest_time_us);

/// The engine's Parquet settings for its tables, on top of the configured `base`: message
/// bytes without a dictionary or statistics, ids and offsets without a dictionary.
sink::ParquetOptions TableParquetOptions(sink::ParquetOptions base);

}  // namespace medallion::engine
