// Test support for the backup suite: an ObjectStore whose writers stop at their first write
// (or at finish) until the test opens a gate, so a test can look at the database while an
// upload is in progress, or keep a run in progress as long as it likes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backup/object_store.hpp"

namespace rtjobs::backup_test {

// A gate the test opens: writers stop at their first write (or at finish) until it opens.
class Gate {
 public:
  // Called by a writer: records that the upload started and waits for open().
  void pass() {
    std::unique_lock lock(mutex_);
    ++reached_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
  }
  bool wait_reached(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return reached_ > 0; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int reached_ = 0;    // guarded by mutex_
  bool open_ = false;  // guarded by mutex_
};

class GatedWriter final : public backup::ObjectWriter {
 public:
  GatedWriter(std::unique_ptr<backup::ObjectWriter> inner, Gate& gate)
      : inner_(std::move(inner)), gate_(gate) {}
  Result<void> write(std::string_view bytes) override {
    pass_once();
    return inner_->write(bytes);
  }
  Result<backup::ObjectInfo> finish() override {
    pass_once();
    return inner_->finish();
  }

 private:
  void pass_once() {
    if (!passed_) gate_.pass();
    passed_ = true;
  }
  std::unique_ptr<backup::ObjectWriter> inner_;
  Gate& gate_;
  bool passed_ = false;
};

class GatedObjects final : public backup::ObjectStore {
 public:
  GatedObjects(backup::ObjectStore& inner, Gate& gate) : inner_(inner), gate_(gate) {}
  std::string url(std::string_view key) const override { return inner_.url(key); }
  Result<std::unique_ptr<backup::ObjectWriter>> create(std::string_view key) override {
    auto w = inner_.create(key);
    if (!w) return std::unexpected(w.error());
    return std::unique_ptr<backup::ObjectWriter>(new GatedWriter(std::move(*w), gate_));
  }
  Result<std::optional<backup::ObjectInfo>> head(std::string_view key) override {
    return inner_.head(key);
  }
  Result<void> verify(const backup::ObjectInfo& written) override { return inner_.verify(written); }
  Result<void> get(std::string_view key, const backup::ChunkSink& sink) override {
    return inner_.get(key, sink);
  }
  Result<std::vector<backup::ObjectInfo>> list(std::string_view prefix) override {
    return inner_.list(prefix);
  }

 private:
  backup::ObjectStore& inner_;
  Gate& gate_;
};

}  // namespace rtjobs::backup_test
