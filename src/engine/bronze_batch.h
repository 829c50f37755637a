#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <librdkafka/rdkafkacpp.h>

#include "sink/parquet_file.h"

namespace medallion::engine {

/// One Bronze batch (BronzeSchema) holding a copy of `messages`, in their order, every value
/// byte for byte; a record without a Kafka timestamp keeps a null one.
arrow::Result<std::shared_ptr<arrow::RecordBatch>> BronzeFromMessages(
    const std::vector<std::unique_ptr<RdKafka::Message>>& messages, const std::string& topic,
    int64_t ingest_time_us);

/// The engine's Parquet settings for its tables, on top of the configured `base`: message
/// bytes without a dictionary or statistics, ids and offsets without a dictionary.
sink::ParquetOptions TableParquetOptions(sink::ParquetOptions base);

}  // namespace medallion::engine
