#include "fake_bank.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

namespace rtjobs::baas_conformance {
namespace {

using namespace std::chrono_literals;

// `node` resolved on PATH before fork(): the child only calls async-signal-safe functions.
std::optional<std::string> find_node() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / "node";
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  return std::nullopt;
}

size_t append_bytes(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// Reads from `fd` until a newline, EOF or the deadline.
std::string read_line(int fd, std::chrono::steady_clock::time_point deadline) {
  std::string line;
  while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  return line;
}

}  // namespace

FakeBank::FakeBank(std::string bank, std::vector<std::string> args)
    : bank_(std::move(bank)), args_(std::move(args)) {}

FakeBank::~FakeBank() { stop(); }

std::optional<std::string> FakeBank::start() {
  const auto node = find_node();
  if (!node) return "node is not on PATH";
  const std::string script = std::string(RTJOBS_SOURCE_DIR) + "/tools/fake_banks/server.js";
  std::vector<std::string> args = {*node,    script, "--bank", bank_,
                                   "--port", "0",    "--host", "127.0.0.1"};
  args.insert(args.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) return std::string("fork: ") + std::strerror(errno);
  if (pid_ == 0) {
    // The fake dies with the test process, whatever ends it.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(fds[1], STDOUT_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  const std::string line = read_line(fds[0], std::chrono::steady_clock::now() + 15s);
  close(fds[0]);
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("listening") || !j["listening"].is_number_integer()) {
    stop();
    return "the " + bank_ + " fake did not start; it said: " + line;
  }
  port_ = j["listening"].get<int>();
  return std::nullopt;
}

void FakeBank::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (waitpid(pid_, nullptr, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  pid_ = -1;
  port_ = 0;
}

nlohmann::json FakeBank::control(std::string_view method, std::string_view path,
                                 std::string_view body) const {
  static const bool curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  CURL* easy = curl_ok ? curl_easy_init() : nullptr;
  if (easy == nullptr) return nlohmann::json::value_t::discarded;
  std::string out;
  const std::string url = this->url() + std::string(path);
  const std::string verb(method);
  const std::string payload(body);
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, verb.c_str());
  if (verb == "POST") curl_easy_setopt(easy, CURLOPT_POSTFIELDS, payload.c_str());
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &append_bytes);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &out);
  const CURLcode rc = curl_easy_perform(easy);
  curl_easy_cleanup(easy);
  if (rc != CURLE_OK) return nlohmann::json::value_t::discarded;
  return nlohmann::json::parse(out, nullptr, false);
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return done();
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace rtjobs::baas_conformance
