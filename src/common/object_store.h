#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <arrow/filesystem/filesystem.h>
#include <arrow/result.h>
#include <arrow/status.h>

#include "common/file_util.h"

/// Object storage under the paths medallion writes: a data or checkpoint directory given as
/// `s3://bucket/prefix` lives in S3 (or an S3-compatible store) instead of on local disk.
/// src/common/file_util.h routes every file operation of such a path here, so the table log,
/// the Parquet files and the checkpoint need no code of their own for it.
///
/// Arrow's S3 filesystem does the reads, listings, deletes and (multipart) uploads. The one
/// operation it lacks is the commit primitive, a PUT that fails when the key exists
/// (`If-None-Match: *`); PutIfAbsent sends it with libcurl, signed with AWS SigV4.
namespace medallion::objstore {

/// Where the S3 store is and how to address it: the `[s3]` keys of the config file. What is
/// left empty comes from the environment, as AWS' own tools take it: AWS_ENDPOINT_URL_S3 or
/// AWS_ENDPOINT_URL, AWS_REGION or AWS_DEFAULT_REGION (default us-east-1). The credentials
/// come only from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for
/// temporary ones, AWS_SESSION_TOKEN.
struct S3Config {
  std::string endpoint;             ///< "http://127.0.0.1:9000"; empty: AWS in `region`
  std::string region;
  std::optional<bool> path_style;   ///< default: true with an endpoint, false on AWS
};

/// Sets the S3 store's settings; call before the first s3:// path is used (later calls
/// replace them for filesystems made afterwards). An endpoint that is not an http(s) URL is
/// an Invalid status naming it.
arrow::Status ConfigureS3(const S3Config& config);

/// True if `path` names an object in S3 (`s3://...`).
bool IsS3(std::string_view path);

/// Where Azure Blob Storage is: the `[azure]` key of the config file. Account and key come
/// from the environment as delta-rs and Azure's tools take them: AZURE_STORAGE_CONNECTION_STRING
/// (AccountName, AccountKey, BlobEndpoint), or AZURE_STORAGE_ACCOUNT_NAME and
/// AZURE_STORAGE_ACCOUNT_KEY; an abfs:// URL's own account wins over the configured one.
struct AzureConfig {
  /// The blob endpoint: empty for https://<account>.blob.core.windows.net; an emulator or a
  /// custom endpoint as "http://127.0.0.1:10000/devstoreaccount1" (account in the path).
  std::string endpoint;
};

/// Sets the Azure settings; call before the first Azure path is used. A bad endpoint is an
/// Invalid status naming it.
arrow::Status ConfigureAzure(const AzureConfig& config);

/// True if `path` names a blob in Azure: abfs[s]://container@account[.dfs.core.windows.net]/path
/// (the form Spark and delta-rs take) or az://container/path (the configured account).
bool IsAzure(std::string_view path);

/// IsS3 or IsAzure.
bool IsObjectStore(std::string_view path);

/// An object-store path in the terms of Arrow's filesystem: the filesystem and the path in
/// it ("bucket/key").
struct Location {
  std::shared_ptr<arrow::fs::FileSystem> fs;
  std::string path;
};

/// The filesystem and path of `url` (s3://bucket/key: "bucket/key"; an Azure URL:
/// "container/path"). A URL without a bucket or container is Invalid.
arrow::Result<Location> Locate(const std::string& url);

/// Creates the object `url` with `bytes` only if no object has that key: a PUT with
/// `If-None-Match: *` (S3: signed with SigV4; Azure: a Put Blob signed with the account's
/// shared key). Returns true if this call created it, false if the key existed (S3 answers
/// 412 Precondition Failed, Azure 409 BlobAlreadyExists). Any other answer is an IOError with the store's
/// status and message.
arrow::Result<bool> PutIfAbsent(const std::string& url, std::string_view bytes);

/// Writes the blob `url` whole with one Put Blob, replacing it if it exists. Arrow's Azure
/// output stream creates an empty blob when it opens and fills it at close, so a process
/// killed in between leaves an empty file where a whole one was expected (a checkpoint's
/// plan, a log checkpoint); a Put Blob is all-or-nothing.
arrow::Status PutAzureBlob(const std::string& url, std::string_view bytes);

/// Deletes the blob `url` with one Delete Blob request. Arrow's Azure DeleteFile takes a
/// lease on the parent "directory" and then waits on the lease release's answer until Azurite
/// closes the connection (the SDK reads a body that is not coming): seconds per delete. A blob
/// that does not exist is an IOError with errno ENOENT.
arrow::Status DeleteAzureBlob(const std::string& url);


/// The blobs (and, unless `recursive`, the folders) under the Azure directory `dir_url`, with
/// names relative to it; a container or folder that does not exist lists empty. It is a List
/// Blobs request sent with libcurl rather than Arrow's listing: the Azure SDK's own HTTP
/// parser fails on some listings' chunked bodies (Azurite answers 200, the SDK reports
/// "Connection was closed by the server while trying to read a response"), every time for
/// the same listing.
arrow::Result<std::vector<DirEntry>> ListAzure(const std::string& dir_url, bool recursive);

/// Checks, once per store prefix, that the store under `dir_url` honours `If-None-Match: *`:
/// writes one probe object twice and expects the second PUT to be refused, then deletes it.
/// A store that accepts both is refused with an Invalid status saying why: committing on it
/// could let two writers both believe they wrote the same table version.
arrow::Status CheckConditionalPut(const std::string& dir_url);

/// Releases the S3 client library. Every exit of a process that may have used S3 calls it
/// first, with the objects that use the store destroyed: the AWS SDK crashes the exit if it is
/// still initialized when the static objects go, and calling it from an atexit handler is too
/// late (Arrow's thread pools may be gone by then). Nothing happens if S3 was never used.
void Shutdown();

}  // namespace medallion::objstore
