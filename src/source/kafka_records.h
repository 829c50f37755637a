#pragma once

#include <memory>
#include <vector>

#include <librdkafka/rdkafkacpp.h>

#include "source/fetched_records.h"

// The one place where librdkafka's messages become FetchedRecords: for the source, and for
// tools (benchmarks) that consume with librdkafka themselves. The engine never includes it.

namespace medallion::source {

/// The record `message` holds, viewing its key and payload (valid while `message` lives).
/// `message` must be a record, not an error or EOF event.
Record RecordOf(const RdKafka::Message& message);

/// A batch that owns `messages` and views their records in the messages' order.
FetchedRecords FetchedFromMessages(std::vector<std::unique_ptr<RdKafka::Message>> messages,
                                   BatchOffsets offsets);

}  // namespace medallion::source
