// Incremental MD5 and SHA-256 over OpenSSL's EVP interface, as lower-case hex. MD5 is only
// used because S3's ETag is one (upload verification), never for security. Not thread-safe:
// one Digest per stream.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace rtjobs::backup {

class Digest {
 public:
  enum class Kind { kMd5, kSha256 };
  explicit Digest(Kind kind);
  void update(std::string_view bytes);
  // The raw digest; the Digest starts over afterwards.
  std::string finish_raw();
  std::string finish_hex();

 private:
  Kind kind_;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

std::string to_hex(std::string_view raw);
std::string sha256_hex(std::string_view bytes);
std::string md5_hex(std::string_view bytes);

}  // namespace rtjobs::backup
