#include "backup/digest.hpp"

#include <stdexcept>

namespace rtjobs::backup {

Digest::Digest(Kind kind) : kind_(kind), ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
  if (!ctx_ ||
      EVP_DigestInit_ex(ctx_.get(), kind == Kind::kMd5 ? EVP_md5() : EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL digest initialisation failed");  // a broken install
  }
}

void Digest::update(std::string_view bytes) {
  EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
}

std::string Digest::finish_raw() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_.get(), out, &n);
  EVP_DigestInit_ex(ctx_.get(), kind_ == Kind::kMd5 ? EVP_md5() : EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(out), n);
}

std::string Digest::finish_hex() { return to_hex(finish_raw()); }

std::string to_hex(std::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  Digest d(Digest::Kind::kSha256);
  d.update(bytes);
  return d.finish_hex();
}

std::string md5_hex(std::string_view bytes) {
  Digest d(Digest::Kind::kMd5);
  d.update(bytes);
  return d.finish_hex();
}

}  // namespace rtjobs::backup
