// open_object_store and the S3 settings from the environment (see object_store.hpp).
#include "backup/object_store.hpp"

#include "backup/file_object_store.hpp"
#include "backup/s3_object_store.hpp"

namespace rtjobs::backup {

S3Settings s3_settings_from_env(const std::function<std::optional<std::string>(const char*)>& env,
                                const std::optional<std::string>& endpoint,
                                const std::optional<std::string>& region) {
  S3Settings s;
  s.endpoint = endpoint ? endpoint : env("RT_S3_ENDPOINT");
  if (s.endpoint && s.endpoint->empty()) s.endpoint.reset();
  auto chosen = region ? region : env("RT_S3_REGION");
  if (!chosen || chosen->empty()) chosen = env("AWS_REGION");
  if (chosen && !chosen->empty()) s.region = *chosen;
  s.access_key_id = env("AWS_ACCESS_KEY_ID").value_or("");
  s.secret_access_key = env("AWS_SECRET_ACCESS_KEY").value_or("");
  s.session_token = env("AWS_SESSION_TOKEN");
  if (s.session_token && s.session_token->empty()) s.session_token.reset();
  return s;
}

Result<std::unique_ptr<ObjectStore>> open_object_store(std::string_view url, const S3Settings& s3) {
  constexpr std::string_view kFile = "file://", kS3 = "s3://";
  if (url.starts_with(kFile)) {
    std::string dir(url.substr(kFile.size()));
    if (dir.empty()) return invalid("RT_BACKUP_URL", "file:// needs a directory");
    return std::unique_ptr<ObjectStore>(new FileObjectStore(dir));
  }
  if (url.starts_with(kS3)) {
    std::string_view rest = url.substr(kS3.size());
    size_t slash = rest.find('/');
    std::string bucket(rest.substr(0, slash));
    std::string prefix(slash == std::string_view::npos ? "" : rest.substr(slash + 1));
    while (prefix.ends_with('/')) prefix.pop_back();
    if (bucket.empty()) return invalid("RT_BACKUP_URL", "s3:// needs a bucket: s3://bucket/prefix");
    if (s3.access_key_id.empty() || s3.secret_access_key.empty()) {
      return invalid("AWS_ACCESS_KEY_ID",
                     "S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment");
    }
    return std::unique_ptr<ObjectStore>(new S3ObjectStore(bucket, prefix, s3));
  }
  return invalid("RT_BACKUP_URL",
                 "unsupported backup URL: expected file://DIR or s3://BUCKET/PREFIX");
}

}  // namespace rtjobs::backup
