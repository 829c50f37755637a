#include "common/object_store.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <arrow/filesystem/azurefs.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/util/io_util.h>

#include "common/uuid.h"

namespace medallion::objstore {
namespace {

constexpr std::string_view kS3Scheme = "s3://";
constexpr std::string_view kAzureSchemes[] = {"abfs://", "abfss://", "az://"};

/// The S3 settings in force: the config's, with the environment filling what it left empty.
struct Settings {
  std::string scheme = "https";  ///< of the endpoint
  std::string host;              ///< host[:port] of the endpoint; empty: AWS
  std::string region = "us-east-1";
  bool path_style = false;
  std::string access_key;
  std::string secret_key;
  std::string session_token;
};

/// The Azure Blob Storage settings in force.
struct AzureSettings {
  std::string account;    ///< default account (az:// URLs name none)
  std::string key;        ///< base64 account key
  std::string scheme = "https";
  std::string authority;  ///< host[:port] of an emulator or custom endpoint; empty: <account>.blob.core.windows.net
};

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

struct State {
  std::mutex mu;
  std::optional<Settings> settings;  ///< from the environment alone until ConfigureS3
  std::shared_ptr<arrow::fs::FileSystem> fs;  ///< the S3 filesystem, made on first use
  bool s3_initialized = false;
  std::set<std::string> probed;  ///< prefixes whose conditional PUT was checked
  std::optional<AzureSettings> azure;  ///< from the environment alone until ConfigureAzure
  std::map<std::string, std::shared_ptr<arrow::fs::FileSystem>> azure_fs;  ///< by account
};

State& Global() {
  static State* state = new State();  // never destroyed: used until the last exit path
  return *state;
}

arrow::Result<Settings> Resolve(const S3Config& config) {
  Settings s;
  std::string endpoint = config.endpoint;
  if (endpoint.empty()) endpoint = Env("AWS_ENDPOINT_URL_S3");
  if (endpoint.empty()) endpoint = Env("AWS_ENDPOINT_URL");
  if (!endpoint.empty()) {
    const auto sep = endpoint.find("://");
    if (sep == std::string::npos || (endpoint.substr(0, sep) != "http" && endpoint.substr(0, sep) != "https")) {
      return arrow::Status::Invalid("S3 endpoint '", endpoint, "' is not an http:// or https:// URL");
    }
    s.scheme = endpoint.substr(0, sep);
    s.host = endpoint.substr(sep + 3);
    while (!s.host.empty() && s.host.back() == '/') s.host.pop_back();
    if (s.host.empty() || s.host.find('/') != std::string::npos) {
      return arrow::Status::Invalid("S3 endpoint '", endpoint, "' must be scheme://host[:port], without a path");
    }
  }
  s.region = config.region;
  if (s.region.empty()) s.region = Env("AWS_REGION");
  if (s.region.empty()) s.region = Env("AWS_DEFAULT_REGION");
  if (s.region.empty()) s.region = "us-east-1";
  s.path_style = config.path_style.value_or(!s.host.empty());
  s.access_key = Env("AWS_ACCESS_KEY_ID");
  s.secret_key = Env("AWS_SECRET_ACCESS_KEY");
  s.session_token = Env("AWS_SESSION_TOKEN");
  return s;
}

/// The settings in force; `state.mu` held.
arrow::Result<Settings> SettingsOf(State& state) {
  if (!state.settings) {
    ARROW_ASSIGN_OR_RAISE(Settings from_env, Resolve(S3Config{}));
    state.settings = std::move(from_env);
  }
  return *state.settings;
}

arrow::Result<std::shared_ptr<arrow::fs::FileSystem>> MakeS3(State& state) {
  if (state.fs) return state.fs;
  ARROW_ASSIGN_OR_RAISE(const Settings s, SettingsOf(state));
  if (!state.s3_initialized) {
    ARROW_RETURN_NOT_OK(arrow::fs::EnsureS3Initialized());
    state.s3_initialized = true;
  }
  arrow::fs::S3Options options = s.access_key.empty()
                                     ? arrow::fs::S3Options::Defaults()
                                     : arrow::fs::S3Options::FromAccessKey(s.access_key, s.secret_key, s.session_token);
  options.region = s.region;
  if (!s.host.empty()) {
    options.endpoint_override = s.host;
    options.scheme = s.scheme;
  }
  options.force_virtual_addressing = !s.path_style;
  // A file smaller than one part is then sent as one PutObject at Close instead of a
  // multipart upload (create, part, complete): most of a batch's files are small.
  options.allow_delayed_open = true;
  ARROW_ASSIGN_OR_RAISE(state.fs, arrow::fs::S3FileSystem::Make(options));
  return state.fs;
}

/// The https URL of `bucket`/`key` on the configured store.
std::string ObjectUrl(const Settings& s, const std::string& bucket, const std::string& key) {
  const std::string host = s.host.empty() ? "s3." + s.region + ".amazonaws.com" : s.host;
  if (s.path_style) return s.scheme + "://" + host + "/" + bucket + "/" + key;
  return s.scheme + "://" + bucket + "." + host + "/" + key;
}

size_t KeepAll(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

size_t KeepBody(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() < 4096) body->append(data, size * count);
  return size * count;
}

/// One request (`method` PUT with `bytes`, or GET) to `url` with `headers`; the HTTP status,
/// or an IOError when no answer came. `sigv4` ("aws:amz:<region>:s3") and `userpwd` sign it for
/// S3; empty: not signed here. The answer's body goes to `body` (all of it for a GET).
arrow::Result<long> SendRequest(const char* method, const std::string& url, std::string_view bytes,
                                const std::vector<std::string>& headers, const std::string& sigv4,
                                const std::string& userpwd, std::string* body) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return arrow::Status::IOError("cannot start an HTTP client for '", url, "'");
  struct curl_slist* list = nullptr;
  for (const std::string& header : headers) list = curl_slist_append(list, header.c_str());
  list = curl_slist_append(list, "Expect:");
  const bool put = std::string_view(method) == "PUT";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (std::string_view(method) == "DELETE") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
  if (put) {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, bytes.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(bytes.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  if (!sigv4.empty()) {
    curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, put ? KeepBody : KeepAll);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return arrow::Status::IOError(method, " '", url, "' failed: ", curl_easy_strerror(rc));
  return status;
}

/// One conditional PUT to S3, signed with SigV4.
arrow::Result<long> SendS3ConditionalPut(const Settings& s, const std::string& url, std::string_view bytes,
                                         std::string* body) {
  std::vector<std::string> headers = {"If-None-Match: *", "Content-Type: application/octet-stream",
                                      "x-amz-content-sha256: UNSIGNED-PAYLOAD"};
  if (!s.session_token.empty()) headers.push_back("x-amz-security-token: " + s.session_token);
  if (s.access_key.empty()) return SendRequest("PUT", url, bytes, headers, "", "", body);
  return SendRequest("PUT", url, bytes, headers, "aws:amz:" + s.region + ":s3", s.access_key + ":" + s.secret_key,
                     body);
}

std::string FirstEnv(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (std::string value = Env(name); !value.empty()) return value;
  }
  return "";
}

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

arrow::Result<std::string> Unbase64(const std::string& text) {
  std::string out(3 * (text.size() / 4) + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0 || text.size() % 4 != 0) return arrow::Status::Invalid("the Azure account key is not base64 (AZURE_STORAGE_ACCOUNT_KEY or the AccountKey of AZURE_STORAGE_CONNECTION_STRING)");
  size_t size = static_cast<size_t>(n);
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;  // padding decodes as zeros
  out.resize(size);
  return out;
}

/// Applies a blob endpoint ("http://127.0.0.1:10000/devstoreaccount1", "https://acct.blob.core.windows.net").
arrow::Status ApplyBlobEndpoint(const std::string& endpoint, AzureSettings* s) {
  const auto sep = endpoint.find("://");
  if (sep == std::string::npos || (endpoint.substr(0, sep) != "http" && endpoint.substr(0, sep) != "https")) {
    return arrow::Status::Invalid("Azure blob endpoint '", endpoint, "' is not an http:// or https:// URL");
  }
  s->scheme = endpoint.substr(0, sep);
  std::string rest = endpoint.substr(sep + 3);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto slash = rest.find('/');
  std::string host = rest.substr(0, slash);
  if (host.empty()) return arrow::Status::Invalid("Azure blob endpoint '", endpoint, "' names no host");
  if (host.ends_with(".blob.core.windows.net")) {
    if (s->account.empty()) s->account = host.substr(0, host.find('.'));
    s->authority.clear();
  } else {
    s->authority = host;  // an emulator: the account is the first path segment
    if (slash != std::string::npos && s->account.empty()) s->account = rest.substr(slash + 1);
  }
  return arrow::Status::OK();
}

arrow::Result<AzureSettings> ResolveAzure(const AzureConfig& config) {
  AzureSettings s;
  std::string endpoint = config.endpoint;
  if (const std::string conn = Env("AZURE_STORAGE_CONNECTION_STRING"); !conn.empty()) {
    std::map<std::string, std::string> parts;
    size_t at = 0;
    while (at < conn.size()) {
      size_t end = conn.find(';', at);
      if (end == std::string::npos) end = conn.size();
      const std::string part = conn.substr(at, end - at);
      if (const auto eq = part.find('='); eq != std::string::npos) parts[part.substr(0, eq)] = part.substr(eq + 1);
      at = end + 1;
    }
    s.account = parts["AccountName"];
    s.key = parts["AccountKey"];
    if (endpoint.empty()) endpoint = parts["BlobEndpoint"];
  }
  if (s.account.empty()) s.account = FirstEnv({"AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT"});
  if (s.key.empty()) s.key = FirstEnv({"AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_KEY"});
  if (!endpoint.empty()) ARROW_RETURN_NOT_OK(ApplyBlobEndpoint(endpoint, &s));
  if (!s.key.empty()) ARROW_RETURN_NOT_OK(Unbase64(s.key).status());  // the SDK would throw on it later
  return s;
}

arrow::Result<AzureSettings> AzureSettingsOf(State& state) {
  if (!state.azure) {
    ARROW_ASSIGN_OR_RAISE(AzureSettings from_env, ResolveAzure(AzureConfig{}));
    state.azure = std::move(from_env);
  }
  return *state.azure;
}

/// An Azure URL's parts: abfs[s]://container@account[.dfs.core.windows.net]/path or az://container/path.
struct AzurePath {
  std::string account;  ///< empty: the configured one
  std::string container;
  std::string path;     ///< inside the container, no leading '/'
};

arrow::Result<AzurePath> ParseAzure(const std::string& url) {
  std::string rest;
  bool az = false;
  for (std::string_view scheme : kAzureSchemes) {
    if (url.starts_with(scheme)) {
      rest = url.substr(scheme.size());
      az = scheme == "az://";
    }
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  AzurePath out;
  out.path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (az) {
    out.container = authority;
  } else {
    const auto at = authority.find('@');
    if (at == std::string::npos) {
      return arrow::Status::Invalid("'", url, "' names no account: expected abfs://container@account/path");
    }
    out.container = authority.substr(0, at);
    const std::string host = authority.substr(at + 1);
    out.account = host.substr(0, host.find('.'));
  }
  if (out.container.empty()) return arrow::Status::Invalid("'", url, "' names no container");
  return out;
}

arrow::Result<std::shared_ptr<arrow::fs::FileSystem>> MakeAzure(State& state, const std::string& account) {
  if (auto it = state.azure_fs.find(account); it != state.azure_fs.end()) return it->second;
  ARROW_ASSIGN_OR_RAISE(const AzureSettings s, AzureSettingsOf(state));
  arrow::fs::AzureOptions options;
  options.account_name = account;
  if (!s.authority.empty()) {
    options.blob_storage_authority = s.authority;
    options.dfs_storage_authority = s.authority;
    options.blob_storage_scheme = s.scheme;
    options.dfs_storage_scheme = s.scheme;
  }
  if (!s.key.empty()) {
    ARROW_RETURN_NOT_OK(options.ConfigureAccountKeyCredential(s.key));
  } else {
    ARROW_RETURN_NOT_OK(options.ConfigureDefaultCredential());
  }
  ARROW_ASSIGN_OR_RAISE(auto fs, arrow::fs::AzureFileSystem::Make(options));
  state.azure_fs[account] = fs;
  return std::shared_ptr<arrow::fs::FileSystem>(fs);
}

std::string AzureBaseUrl(const AzureSettings& s, const std::string& account) {
  return s.authority.empty() ? "https://" + account + ".blob.core.windows.net"
                             : s.scheme + "://" + s.authority + "/" + account;
}

constexpr const char* kAzureVersion = "2021-08-06";

std::string HttpDate() {
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return date;
}

/// The Authorization header of a request signed with the account's shared key: `fields` are
/// the standard headers' lines of the string to sign (Content-Encoding to Range, 11 lines),
/// `ms_headers` the x-ms-* headers sorted, `resource` the canonicalized resource.
arrow::Result<std::string> SharedKey(const AzureSettings& s, const std::string& account, const std::string& verb,
                                     const std::string& fields, const std::vector<std::string>& ms_headers,
                                     const std::string& resource) {
  std::string to_sign = verb + "\n" + fields;
  for (const std::string& header : ms_headers) to_sign += header + "\n";
  to_sign += resource;
  ARROW_ASSIGN_OR_RAISE(const std::string key, Unbase64(s.key));
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(to_sign.data()),
       to_sign.size(), mac, &mac_size);
  return "Authorization: SharedKey " + account + ":" + Base64(mac, mac_size);
}

/// One Put Blob, conditional (If-None-Match: *) or not, signed with the account's shared key.
arrow::Result<long> SendAzurePut(const AzureSettings& s, const std::string& account, const std::string& container,
                                 const std::string& blob, std::string_view bytes, bool if_none_match,
                                 std::string* body) {
  const std::string url = AzureBaseUrl(s, account) + "/" + container + "/" + blob;
  const std::string url_path = url.substr(url.find('/', url.find("://") + 3));
  const std::string date = HttpDate();
  const std::vector<std::string> ms = {"x-ms-blob-type:BlockBlob", "x-ms-date:" + date,
                                       std::string("x-ms-version:") + kAzureVersion};
  std::vector<std::string> headers = {"Content-Type: application/octet-stream", "x-ms-blob-type: BlockBlob",
                                      "x-ms-date: " + date, std::string("x-ms-version: ") + kAzureVersion};
  if (if_none_match) headers.push_back("If-None-Match: *");
  if (!s.key.empty()) {
    // Content-Encoding, -Language, -Length, -MD5, -Type, Date, If-Modified-Since, If-Match,
    // If-None-Match, If-Unmodified-Since, Range.
    const std::string fields = "\n\n" + (bytes.empty() ? std::string() : std::to_string(bytes.size())) +
                               "\n\napplication/octet-stream\n\n\n\n" + (if_none_match ? "*" : "") +
                               "\n\n\n";
    ARROW_ASSIGN_OR_RAISE(std::string auth, SharedKey(s, account, "PUT", fields, ms, "/" + account + url_path));
    headers.push_back(std::move(auth));
  }
  return SendRequest("PUT", url, bytes, headers, "", "", body);
}

/// The text of the first <tag>...</tag> in `xml` from `at`, XML entities decoded; nullopt if
/// there is none. `at` moves past it.
std::optional<std::string> XmlText(const std::string& xml, const std::string& tag, size_t* at, size_t end) {
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  const size_t start = xml.find(open, *at);
  if (start == std::string::npos || start >= end) return std::nullopt;
  const size_t stop = xml.find(close, start);
  if (stop == std::string::npos || stop > end) return std::nullopt;
  std::string raw = xml.substr(start + open.size(), stop - start - open.size());
  *at = stop + close.size();
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '&') {
      out += raw[i];
      continue;
    }
    const size_t semi = raw.find(';', i);
    const std::string entity = raw.substr(i, semi == std::string::npos ? 0 : semi - i + 1);
    if (entity == "&amp;") out += '&';
    else if (entity == "&lt;") out += '<';
    else if (entity == "&gt;") out += '>';
    else if (entity == "&quot;") out += '"';
    else if (entity == "&apos;") out += '\'';
    else { out += raw[i]; continue; }
    i = semi;
  }
  return out;
}

int64_t ParseHttpDateMs(const std::string& text) {
  std::tm tm{};
  if (strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return 0;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::string Escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof(hex), "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

/// List Blobs of `container` under `prefix` (with a trailing '/'), through every page.
arrow::Result<std::vector<DirEntry>> ListAzureBlobs(const AzureSettings& s, const std::string& account,
                                                      const std::string& container, const std::string& prefix,
                                                      bool recursive) {
  std::vector<DirEntry> out;
  std::string marker;
  const std::string base = AzureBaseUrl(s, account) + "/" + container;
  const std::string url_path = base.substr(base.find('/', base.find("://") + 3));
  do {
    // The query parameters, sorted by name as the canonicalized resource wants them.
    std::vector<std::pair<std::string, std::string>> query = {{"comp", "list"}};
    if (!recursive) query.emplace_back("delimiter", "/");
    if (!marker.empty()) query.emplace_back("marker", marker);
    query.emplace_back("prefix", prefix);
    query.emplace_back("restype", "container");
    std::string url = base + "?";
    std::string resource = "/" + account + url_path;
    for (size_t i = 0; i < query.size(); ++i) {
      url += (i ? "&" : "") + query[i].first + "=" + Escape(query[i].second);
      resource += "\n" + query[i].first + ":" + query[i].second;
    }
    const std::string date = HttpDate();
    std::vector<std::string> headers = {"x-ms-date: " + date, std::string("x-ms-version: ") + kAzureVersion};
    if (!s.key.empty()) {
      ARROW_ASSIGN_OR_RAISE(std::string auth,
                            SharedKey(s, account, "GET", "\n\n\n\n\n\n\n\n\n\n\n",
                                      {"x-ms-date:" + date, std::string("x-ms-version:") + kAzureVersion}, resource));
      headers.push_back(std::move(auth));
    }
    std::string body;
    ARROW_ASSIGN_OR_RAISE(long status, SendRequest("GET", url, {}, headers, "", "", &body));
    if (status == 404 && body.find("ContainerNotFound") != std::string::npos) return out;
    if (status != 200) {
      return arrow::Status::IOError("listing '", container, "/", prefix, "' answered HTTP ", status, ": ",
                                    body.substr(0, 500));
    }
    size_t at = 0;
    while (true) {
      const size_t blob = body.find("<Blob>", at), dir = body.find("<BlobPrefix>", at);
      if (blob == std::string::npos && dir == std::string::npos) break;
      DirEntry info;
      if (dir != std::string::npos && (blob == std::string::npos || dir < blob)) {
        const size_t end = body.find("</BlobPrefix>", dir);
        size_t pos = dir;
        info.name = XmlText(body, "Name", &pos, end).value_or("");
        info.is_dir = true;
        at = end == std::string::npos ? body.size() : end;
      } else {
        const size_t end = body.find("</Blob>", blob);
        size_t pos = blob;
        info.name = XmlText(body, "Name", &pos, end).value_or("");
        info.size = std::strtoll(XmlText(body, "Content-Length", &pos, end).value_or("0").c_str(), nullptr, 10);
        pos = blob;
        info.modified_ms = ParseHttpDateMs(XmlText(body, "Last-Modified", &pos, end).value_or(""));
        at = end == std::string::npos ? body.size() : end;
      }
      while (!info.name.empty() && info.name.back() == '/') info.name.pop_back();
      if (info.name.size() > prefix.size()) {
        info.name = info.name.substr(prefix.size());
        out.push_back(std::move(info));
      }
    }
    size_t pos = 0;
    marker = XmlText(body, "NextMarker", &pos, body.size()).value_or("");
  } while (!marker.empty());
  return out;
}

/// An Azure URL resolved against the settings in force: its parts and the account it is in.
struct AzureTarget {
  AzureSettings settings;
  AzurePath parts;
  std::string account;
};

arrow::Result<AzureTarget> AzureTargetOf(const std::string& url) {
  AzureTarget target;
  ARROW_ASSIGN_OR_RAISE(target.parts, ParseAzure(url));
  {
    State& state = Global();
    std::lock_guard lock(state.mu);
    ARROW_ASSIGN_OR_RAISE(target.settings, AzureSettingsOf(state));
  }
  target.account = target.parts.account.empty() ? target.settings.account : target.parts.account;
  if (target.account.empty()) {
    return arrow::Status::Invalid("'", url, "' names no storage account and none is configured "
                                  "(AZURE_STORAGE_ACCOUNT_NAME or AZURE_STORAGE_CONNECTION_STRING)");
  }
  return target;
}

}  // namespace

arrow::Status ConfigureS3(const S3Config& config) {
  ARROW_ASSIGN_OR_RAISE(Settings settings, Resolve(config));
  State& state = Global();
  std::lock_guard lock(state.mu);
  state.settings = std::move(settings);
  state.fs.reset();
  return arrow::Status::OK();
}

bool IsS3(std::string_view path) { return path.starts_with(kS3Scheme); }

bool IsAzure(std::string_view path) {
  for (std::string_view scheme : kAzureSchemes) {
    if (path.starts_with(scheme)) return true;
  }
  return false;
}

bool IsObjectStore(std::string_view path) { return IsS3(path) || IsAzure(path); }

arrow::Status ConfigureAzure(const AzureConfig& config) {
  ARROW_ASSIGN_OR_RAISE(AzureSettings settings, ResolveAzure(config));
  State& state = Global();
  std::lock_guard lock(state.mu);
  state.azure = std::move(settings);
  state.azure_fs.clear();
  return arrow::Status::OK();
}

arrow::Result<Location> Locate(const std::string& url) {
  if (IsAzure(url)) {
    ARROW_ASSIGN_OR_RAISE(AzureTarget target, AzureTargetOf(url));
    State& state = Global();
    std::lock_guard lock(state.mu);
    ARROW_ASSIGN_OR_RAISE(auto fs, MakeAzure(state, target.account));
    const AzurePath& parts = target.parts;
    return Location{std::move(fs), parts.path.empty() ? parts.container : parts.container + "/" + parts.path};
  }
  if (!IsS3(url)) return arrow::Status::Invalid("'", url, "' is not an s3:// or Azure URL");
  std::string path = url.substr(kS3Scheme.size());
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.empty() || path.front() == '/') return arrow::Status::Invalid("'", url, "' names no bucket");
  State& state = Global();
  std::lock_guard lock(state.mu);
  ARROW_ASSIGN_OR_RAISE(auto fs, MakeS3(state));
  return Location{std::move(fs), std::move(path)};
}

/// One Put Blob of `url`: created (true), the key taken (false, only `if_none_match`), or an
/// error. 503 (server busy) is retried.
arrow::Result<bool> AzurePut(const std::string& url, std::string_view bytes, bool if_none_match) {
  ARROW_ASSIGN_OR_RAISE(AzureTarget target, AzureTargetOf(url));
  for (int attempt = 0;; ++attempt) {
    std::string body;
    ARROW_ASSIGN_OR_RAISE(long status, SendAzurePut(target.settings, target.account, target.parts.container,
                                                    target.parts.path, bytes, if_none_match, &body));
    if (status == 201 || status == 200) return true;
    // The blob service answers 409 (BlobAlreadyExists) to If-None-Match: * on an existing blob.
    if (if_none_match && (status == 409 || status == 412)) return false;
    if (status == 503 && attempt < 4) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50 << attempt));
      continue;
    }
    return arrow::Status::IOError("PUT of '", url, "' answered HTTP ", status, ": ", body);
  }
}

arrow::Status PutAzureBlob(const std::string& url, std::string_view bytes) {
  return AzurePut(url, bytes, /*if_none_match=*/false).status();
}

arrow::Status DeleteAzureBlob(const std::string& url) {
  ARROW_ASSIGN_OR_RAISE(AzureTarget target, AzureTargetOf(url));
  const AzureSettings& s = target.settings;
  const std::string& account = target.account;
  const std::string blob_url = AzureBaseUrl(s, account) + "/" + target.parts.container + "/" + target.parts.path;
  const std::string url_path = blob_url.substr(blob_url.find('/', blob_url.find("://") + 3));
  const std::string date = HttpDate();
  std::vector<std::string> headers = {"x-ms-date: " + date, std::string("x-ms-version: ") + kAzureVersion};
  if (!s.key.empty()) {
    ARROW_ASSIGN_OR_RAISE(std::string auth,
                          SharedKey(s, account, "DELETE", "\n\n\n\n\n\n\n\n\n\n\n",
                                    {"x-ms-date:" + date, std::string("x-ms-version:") + kAzureVersion},
                                    "/" + account + url_path));
    headers.push_back(std::move(auth));
  }
  std::string body;
  ARROW_ASSIGN_OR_RAISE(long status, SendRequest("DELETE", blob_url, {}, headers, "", "", &body));
  if (status == 202 || status == 200) return arrow::Status::OK();
  if (status == 404) {
    return arrow::Status::IOError("blob '", url, "' does not exist").WithDetail(arrow::internal::StatusDetailFromErrno(ENOENT));
  }
  return arrow::Status::IOError("DELETE of '", url, "' answered HTTP ", status, ": ", body.substr(0, 500));
}

arrow::Result<bool> PutIfAbsent(const std::string& url, std::string_view bytes) {
  if (IsAzure(url)) return AzurePut(url, bytes, /*if_none_match=*/true);
  ARROW_ASSIGN_OR_RAISE(Location where, Locate(url));
  const auto slash = where.path.find('/');
  if (slash == std::string::npos) return arrow::Status::Invalid("'", url, "' names a bucket, not an object");
  Settings settings;
  {
    State& state = Global();
    std::lock_guard lock(state.mu);
    ARROW_ASSIGN_OR_RAISE(settings, SettingsOf(state));
  }
  const std::string object = ObjectUrl(settings, where.path.substr(0, slash), where.path.substr(slash + 1));
  // 409 (a concurrent conditional write of the key in progress) and 503 (slow down) ask for a
  // retry. A request that got no answer is not retried: it may have created the object, and
  // a retry would then report the key as taken by someone else.
  for (int attempt = 0;; ++attempt) {
    std::string body;
    ARROW_ASSIGN_OR_RAISE(long status, SendS3ConditionalPut(settings, object, bytes, &body));
    if (status == 200 || status == 201) return true;
    if (status == 412) return false;
    if ((status == 409 || status == 503) && attempt < 4) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50 << attempt));
      continue;
    }
    return arrow::Status::IOError("conditional PUT of '", url, "' answered HTTP ", status, ": ", body);
  }
}

arrow::Result<std::vector<DirEntry>> ListAzure(const std::string& dir_url, bool recursive) {
  ARROW_ASSIGN_OR_RAISE(AzureTarget target, AzureTargetOf(dir_url));
  const AzurePath& parts = target.parts;
  return ListAzureBlobs(target.settings, target.account, parts.container, parts.path.empty() ? "" : parts.path + "/",
                        recursive);
}

arrow::Status CheckConditionalPut(const std::string& dir_url) {
  State& state = Global();
  {
    std::lock_guard lock(state.mu);
    if (state.probed.contains(dir_url)) return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(std::string id, RandomUuid());
  const std::string probe = dir_url + "/.medallion-probe-" + id;
  ARROW_ASSIGN_OR_RAISE(bool first, PutIfAbsent(probe, "probe\n"));
  ARROW_ASSIGN_OR_RAISE(bool second, PutIfAbsent(probe, "probe\n"));
  if (IsAzure(probe)) {
    (void)DeleteAzureBlob(probe);
  } else {
    ARROW_ASSIGN_OR_RAISE(Location where, Locate(probe));
    (void)where.fs->DeleteFile(where.path);
  }
  if (!first || second) {
    return arrow::Status::Invalid(
        "the object store under '", dir_url, "' does not honour conditional PUTs (If-None-Match: *): a "
        "second create of the same key was ", second ? "accepted" : "not tried: the first was refused",
        ". medallion commits table versions and batch plans by creating keys that must not exist yet; "
        "on this store two writers could both commit the same version. Use a store that supports "
        "conditional writes (AWS S3, or an S3-compatible server that implements If-None-Match)");
  }
  std::lock_guard lock(state.mu);
  state.probed.insert(dir_url);
  return arrow::Status::OK();
}

void Shutdown() {
  State& state = Global();
  std::lock_guard lock(state.mu);
  state.fs.reset();
  state.azure_fs.clear();
  if (state.s3_initialized) {
    (void)arrow::fs::EnsureS3Finalized();
    state.s3_initialized = false;
  }
}

}  // namespace medallion::objstore
