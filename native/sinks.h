#ifndef LOOPTRACE_NATIVE_SINKS_H_
#define LOOPTRACE_NATIVE_SINKS_H_

// Where encoded frames go. Sinks run on the writer thread only. A sink that fails returns false
// with a message; the recorder then reports the error and turns telemetry off.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace looptrace {

class Encoder;

// Writes the start of a new file (magic, header, definitions) into an encoder. The argument is
// the new file's index.
using PreambleFn = std::function<void(Encoder&, uint64_t file_index)>;

class Sink {
 public:
  virtual ~Sink() = default;
  // Called once on the thread that starts telemetry, so a bad path fails start() synchronously.
  virtual bool Open(const PreambleFn& preamble, std::string* error) = 0;
  // Appends one whole frame. Frames are never split across files.
  virtual bool WriteFrame(const uint8_t* data, size_t size, std::string* error) = 0;
  // Pushes buffered frames to their destination; called once per flush interval.
  virtual bool Flush(std::string* error) = 0;
  virtual void Close() = 0;
  virtual uint64_t files() const { return 1; }
  // Bytes the sink could not pass on and dropped.
  virtual uint64_t dropped_bytes() const { return 0; }
};

class NullSink final : public Sink {
 public:
  bool Open(const PreambleFn&, std::string*) override { return true; }
  bool WriteFrame(const uint8_t*, size_t, std::string*) override { return true; }
  bool Flush(std::string*) override { return true; }
  void Close() override {}
  uint64_t files() const override { return 0; }
};

// SimpleBinaryWriter (max_file_bytes == 0) and RotatingWriter.
//
// Files are created with O_EXCL and O_NOFOLLOW: an existing file (or a symlink planted in its
// place) is never truncated or followed. A RotatingWriter's files carry a tag unique to this
// process ("trace.<pid>-<random>.N.bin"), so processes sharing a directory never open, rename
// or delete each other's files. While it runs, a process holds an flock on its hidden lock file
// ".trace.<tag>.lock"; files whose tag has no held lock belong to a process that has ended, and
// a process that starts later counts them against its own budget (docs: "Many processes, one
// directory" in the README).
class FileSink final : public Sink {
 public:
  // `replace` (SimpleBinaryWriter only): truncate an existing file instead of refusing it; a
  // symlink is still refused.
  FileSink(std::string path, uint64_t max_file_bytes, uint64_t max_total_bytes, bool replace = false);
  ~FileSink() override;
  bool Open(const PreambleFn& preamble, std::string* error) override;
  bool WriteFrame(const uint8_t* data, size_t size, std::string* error) override;
  bool Flush(std::string* error) override;
  void Close() override;
  uint64_t files() const override { return files_opened_.load(std::memory_order_relaxed); }

 private:
  struct Sealed {
    std::string path;
    uint64_t bytes;
  };
  bool rotating() const { return max_file_bytes_ != 0; }
  std::string NumberedPath(uint64_t index, bool active) const { return NumberedPath(tag_, index, active); }
  std::string NumberedPath(const std::string& tag, uint64_t index, bool active) const;
  std::string LockPath(const std::string& tag) const;
  bool TakeLock(std::string* error);
  // Seals the current file, if any, and opens the next one.
  bool OpenFile(std::string* error);
  int CreateExclusive(const std::string& path, std::string* error);
  bool SealFile(std::string* error);
  bool WriteAll(const uint8_t* data, size_t size, std::string* error);
  bool MakeRoom(uint64_t bytes, std::string* error);
  void ScanExisting();

  const std::string path_;
  // This process's part of the rotating file names: "<pid>-<8 random hex digits>".
  std::string tag_;
  int lock_fd_ = -1;
  std::string lock_path_;
  const uint64_t max_file_bytes_;
  const uint64_t max_total_bytes_;
  const bool replace_;
  PreambleFn preamble_;
  int fd_ = -1;
  uint64_t file_index_ = 0;
  uint64_t next_index_ = 0;
  uint64_t file_bytes_ = 0;
  uint64_t sealed_bytes_ = 0;
  // Read by stats() on the main thread while the writer thread counts.
  std::atomic<uint64_t> files_opened_{0};
  std::deque<Sealed> sealed_;
  std::vector<uint8_t> pending_;
  std::string active_path_;
  // A failure to write the first header, reported by the first flush instead of by Open().
  std::string deferred_error_;
};

// Frames for a JavaScript writer: the writer thread queues them here and the main thread takes
// them. The queue is bounded; frames that do not fit are dropped and counted.
class Outbox {
 public:
  explicit Outbox(size_t max_bytes) : max_bytes_(max_bytes) {}
  // Returns false when the frame was dropped. Sets *was_empty when the queue had been empty, so
  // the caller wakes the main thread once per batch.
  bool Add(std::vector<uint8_t> bytes, bool* was_empty);
  std::vector<std::vector<uint8_t>> TakeAll();

 private:
  std::mutex mu_;
  std::vector<std::vector<uint8_t>> chunks_;
  size_t bytes_ = 0;
  const size_t max_bytes_;
};

class JsSink final : public Sink {
 public:
  // `wake` asks the main thread to take the outbox; it must not block.
  JsSink(Outbox* outbox, std::function<void()> wake) : outbox_(outbox), wake_(std::move(wake)) {}
  bool Open(const PreambleFn& preamble, std::string* error) override;
  bool WriteFrame(const uint8_t* data, size_t size, std::string* error) override;
  bool Flush(std::string* error) override;
  void Close() override {}
  uint64_t dropped_bytes() const override { return dropped_bytes_.load(std::memory_order_relaxed); }
  uint64_t files() const override { return 0; }

 private:
  Outbox* outbox_;
  std::function<void()> wake_;
  std::vector<uint8_t> batch_;
  // Read by stats() on the main thread while the writer thread counts.
  std::atomic<uint64_t> dropped_bytes_{0};
};

}  // namespace looptrace

#endif  // LOOPTRACE_NATIVE_SINKS_H_
