#include "backup/s3_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>
#include <thread>

#include "backup/digest.hpp"

namespace rtjobs::backup {
namespace {

void global_init() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

struct Transfer {
  const S3Request* request = nullptr;
  S3Response response;
  std::string_view upload;  // what remains to send
  CURL* curl = nullptr;
  Result<void> sink_result;
  bool delivered = false;  // bytes went to the sink: a retry would repeat them
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) t->response.headers.clear();  // a new (final) response
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() &&
           (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    t->response.headers[name] = std::string(value);
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view chunk(data, size * count);
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->request->sink && status >= 200 && status < 300) {
    t->delivered = true;
    t->sink_result = (*t->request->sink)(chunk);
    return t->sink_result ? chunk.size() : 0;  // 0 aborts the transfer
  }
  t->response.body.append(chunk);
  return chunk.size();
}

size_t on_read(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = std::min(size * count, t->upload.size());
  std::copy_n(t->upload.data(), n, buffer);  // NOLINT(bugprone-suspicious-stringview-data-usage)
  t->upload.remove_prefix(n);
  return n;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

S3Client::S3Client(std::string bucket, S3Settings settings)
    : bucket_(std::move(bucket)), settings_(std::move(settings)) {
  global_init();
  endpoint_ = settings_.endpoint.value_or("https://s3." + settings_.region + ".amazonaws.com");
  while (endpoint_.ends_with('/')) endpoint_.pop_back();
}

std::string S3Client::uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string S3Client::url_for(const S3Request& request) const {
  std::string url = endpoint_ + "/" + uri_encode(bucket_, false);
  if (!request.key.empty()) url.append("/").append(uri_encode(request.key, true));
  auto query = request.query;
  std::sort(query.begin(), query.end());
  for (size_t i = 0; i < query.size(); ++i) {
    url += i == 0 ? '?' : '&';
    url += uri_encode(query[i].first, false) + "=" + uri_encode(query[i].second, false);
  }
  return url;
}

Result<S3Response> S3Client::send(const S3Request& request) const {
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    bool retryable = false;
    auto r = send_once(request, &retryable);
    if (r || !retryable || attempt == kAttempts) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt * attempt));
  }
}

Result<S3Response> S3Client::send_once(const S3Request& request, bool* retryable) const {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return fail(ErrorCode::kInternal, "curl_easy_init failed");
  Transfer t;
  t.request = &request;
  t.curl = curl.get();
  t.upload = request.body;
  const std::string url = url_for(request);
  const std::string what = "S3 " + request.method + " s3://" + bucket_ + "/" + request.key;

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add = [&](const std::string& line) {
    headers.reset(curl_slist_append(headers.release(), line.c_str()));
  };
  add("x-amz-content-sha256: " + sha256_hex(request.body));
  if (settings_.session_token) add("x-amz-security-token: " + *settings_.session_token);
  // No "Expect:" override: curl 7.88 would sign the empty header it then does not send.
  for (const std::string& h : request.headers) add(h);

  CURL* c = curl.get();
  const std::string sigv4 = "aws:amz:" + settings_.region + ":s3";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(c, CURLOPT_USERNAME, settings_.access_key_id.c_str());
  curl_easy_setopt(c, CURLOPT_PASSWORD, settings_.secret_access_key.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  if (request.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    // The size is set next: curl reads no terminating NUL.
    // NOLINTNEXTLINE(bugprone-suspicious-stringview-data-usage)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  if (!t.sink_result) return std::unexpected(t.sink_result.error());
  if (rc != CURLE_OK) {
    *retryable = !t.delivered;
    return fail(ErrorCode::kUnavailable, what + ": " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.response.status);
  long status = t.response.status;
  if (status >= 200 && status < 300) return std::move(t.response);
  if (request.method == "HEAD" && status == 404) return std::move(t.response);
  *retryable = (status >= 500 || status == 429) && !t.delivered;
  ErrorCode kind = status == 404 ? ErrorCode::kNotFound : ErrorCode::kUnavailable;
  return fail(kind, what + ": " + error_detail(status, t.response.body));
}

namespace {

// The raw text of the first <tag>...</tag> at or after *pos (to the end when it is not closed),
// its escapes kept; *pos is set past it, or to npos when there is none.
std::string_view xml_element(std::string_view xml, std::string_view tag, size_t* pos) {
  const std::string open = std::string("<").append(tag).append(">");
  const std::string close = std::string("</").append(tag).append(">");
  size_t start = xml.find(open, pos ? *pos : 0);
  if (start == std::string_view::npos) {
    if (pos) *pos = std::string_view::npos;
    return {};
  }
  start += open.size();
  size_t end = xml.find(close, start);
  if (end == std::string_view::npos) end = xml.size();
  if (pos) *pos = end;
  return xml.substr(start, end - start);
}

std::string xml_unescape(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out.push_back(text[i]);
      continue;
    }
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool matched = false;
    for (auto [entity, ch] : kEntities) {
      if (text.substr(i).starts_with(entity)) {
        out.push_back(ch);
        i += entity.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out.push_back('&');
  }
  return out;
}

}  // namespace

std::string xml_value(std::string_view xml, std::string_view tag, size_t* pos) {
  return xml_unescape(xml_element(xml, tag, pos));
}

std::string error_detail(long status, std::string_view body) {
  std::string detail = "HTTP " + std::to_string(status);
  if (std::string code = xml_value(body, "Code"); !code.empty()) detail += " " + code;
  if (std::string msg = xml_value(body, "Message"); !msg.empty()) detail += ": " + msg;
  if (status == 403 && body.empty()) {  // HEAD answers carry no error body
    detail += " Forbidden (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket policy)";
  }
  return detail;
}

ListPage parse_list_page(std::string_view xml, size_t strip) {
  ListPage page;
  size_t pos = 0;
  for (;;) {
    // Kept escaped: its children are unescaped once, as they are read.
    const std::string_view item = xml_element(xml, "Contents", &pos);
    if (pos == std::string::npos) break;
    ObjectInfo info;
    std::string key = xml_value(item, "Key");
    info.key = key.size() >= strip ? key.substr(strip) : key;
    info.etag = xml_value(item, "ETag");
    if (info.etag.size() >= 2 && info.etag.front() == '"' && info.etag.back() == '"') {
      info.etag = info.etag.substr(1, info.etag.size() - 2);
    }
    const std::string size = xml_value(item, "Size");
    std::from_chars(size.data(), size.data() + size.size(), info.size);
    page.objects.push_back(std::move(info));
  }
  if (xml_value(xml, "IsTruncated") == "true") {
    if (std::string token = xml_value(xml, "NextContinuationToken"); !token.empty()) {
      page.next_token = std::move(token);
    }
  }
  return page;
}

}  // namespace rtjobs::backup
