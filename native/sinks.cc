#include "sinks.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "encoder.h"

namespace looptrace {

namespace {

const char* ErrnoName(int err) {
  switch (err) {
    case ENOSPC: return "ENOSPC";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EROFS: return "EROFS";
    case EDQUOT: return "EDQUOT";
    case EFBIG: return "EFBIG";
    case EIO: return "EIO";
    default: return nullptr;
  }
}

std::string ErrnoMessage(const char* what, const std::string& path, int err) {
  const char* name = ErrnoName(err);
  return std::string(what) + " " + path + ": " + std::strerror(err) + " (" +
         (name != nullptr ? std::string(name) : "errno " + std::to_string(err)) + ")";
}

// Splits "/dir/trace.bin" into "/dir", "trace" and ".bin".
void SplitPath(const std::string& path, std::string* dir, std::string* stem, std::string* ext) {
  size_t slash = path.rfind('/');
  *dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  size_t dot = base.rfind('.');
  if (dot == std::string::npos || dot == 0) {
    *stem = base;
    ext->clear();
  } else {
    *stem = base.substr(0, dot);
    *ext = base.substr(dot);
  }
}

}  // namespace

FileSink::FileSink(std::string path, uint64_t max_file_bytes, uint64_t max_total_bytes)
    : path_(std::move(path)), max_file_bytes_(max_file_bytes), max_total_bytes_(max_total_bytes) {}

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
}

std::string FileSink::NumberedPath(uint64_t index, bool active) const {
  std::string dir, stem, ext;
  SplitPath(path_, &dir, &stem, &ext);
  std::string prefix = path_.rfind('/') == std::string::npos ? "" : dir + "/";
  return prefix + stem + "." + std::to_string(index) + (active ? ".active" : "") + ext;
}

// Files left by an earlier run with the same name count against the budget, oldest first, and
// numbering continues after them. A file still marked active was cut off by a crash: it is
// sealed as it is, since its intact frames still decode.
void FileSink::ScanExisting() {
  std::string dir, stem, ext;
  SplitPath(path_, &dir, &stem, &ext);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::pair<uint64_t, std::string>> found;
  std::string prefix = stem + ".";
  while (dirent* entry = ::readdir(d)) {
    std::string name = entry->d_name;
    if (name.size() <= prefix.size() + ext.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - ext.size(), ext.size(), ext) != 0) {
      continue;
    }
    std::string middle = name.substr(prefix.size(), name.size() - prefix.size() - ext.size());
    bool active = false;
    const std::string kActive = ".active";
    if (middle.size() > kActive.size() &&
        middle.compare(middle.size() - kActive.size(), kActive.size(), kActive) == 0) {
      active = true;
      middle.resize(middle.size() - kActive.size());
    }
    if (middle.empty() || middle.find_first_not_of("0123456789") != std::string::npos ||
        middle.size() > 18) {
      continue;
    }
    uint64_t index = std::strtoull(middle.c_str(), nullptr, 10);
    std::string full = (dir == "/" ? "" : dir) + "/" + name;
    if (active) {
      std::string sealed = NumberedPath(index, false);
      if (::rename(full.c_str(), sealed.c_str()) != 0) continue;
      full = sealed;
    }
    found.emplace_back(index, full);
  }
  ::closedir(d);
  std::sort(found.begin(), found.end());
  for (const auto& f : found) {
    struct stat st;
    if (::stat(f.second.c_str(), &st) != 0) continue;
    sealed_.push_back({f.second, static_cast<uint64_t>(st.st_size)});
    sealed_bytes_ += static_cast<uint64_t>(st.st_size);
    next_index_ = std::max(next_index_, f.first + 1);
  }
}

bool FileSink::Open(const PreambleFn& preamble, std::string* error) {
  preamble_ = preamble;
  if (rotating()) ScanExisting();
  if (!OpenFile(error)) return false;
  // The header goes to disk at once, so a process killed before the first flush still leaves a
  // file that decodes. A file that opens but cannot be written (a full disk) is a write failure,
  // reported through onError by the writer thread's first flush, not a throw from start.
  std::string write_error;
  if (!Flush(&write_error)) deferred_error_ = write_error;
  return true;
}

bool FileSink::OpenFile(std::string* error) {
  file_index_ = rotating() ? next_index_++ : 0;
  active_path_ = rotating() ? NumberedPath(file_index_, true) : path_;
  // Owner-only permissions: traces reveal what the application does and when.
  fd_ = ::open(active_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    *error = ErrnoMessage("cannot open trace file", active_path_, errno);
    return false;
  }
  files_opened_++;
  file_bytes_ = 0;
  Encoder enc;
  preamble_(enc, file_index_);
  if (rotating() && !MakeRoom(enc.size(), error)) return false;
  pending_.insert(pending_.end(), enc.data(), enc.data() + enc.size());
  file_bytes_ += enc.size();
  return true;
}

bool FileSink::SealFile(std::string* error) {
  if (fd_ < 0) return true;
  if (!Flush(error)) return false;
  ::close(fd_);
  fd_ = -1;
  if (rotating()) {
    std::string sealed = NumberedPath(file_index_, false);
    if (::rename(active_path_.c_str(), sealed.c_str()) != 0) {
      *error = ErrnoMessage("cannot seal trace file", active_path_, errno);
      return false;
    }
    sealed_.push_back({sealed, file_bytes_});
    sealed_bytes_ += file_bytes_;
  }
  return true;
}

// Deletes the oldest sealed files until `bytes` more fit in the total budget.
bool FileSink::MakeRoom(uint64_t bytes, std::string* error) {
  while (sealed_bytes_ + file_bytes_ + bytes > max_total_bytes_ && !sealed_.empty()) {
    const Sealed& oldest = sealed_.front();
    if (::unlink(oldest.path.c_str()) != 0 && errno != ENOENT) {
      *error = ErrnoMessage("cannot delete old trace file", oldest.path, errno);
      return false;
    }
    sealed_bytes_ -= oldest.bytes;
    sealed_.pop_front();
  }
  return true;
}

bool FileSink::WriteFrame(const uint8_t* data, size_t size, std::string* error) {
  if (fd_ < 0) {
    *error = "trace file is closed";
    return false;
  }
  if (rotating()) {
    if (file_bytes_ + size > max_file_bytes_) {
      if (!SealFile(error) || !OpenFile(error)) return false;
    }
    if (!MakeRoom(size, error)) return false;
    // A file with only its preamble can still not fit a frame larger than the file limit; the
    // recorder keeps frames below a quarter of it, so this only guards against misuse.
    if (file_bytes_ + size > max_file_bytes_) {
      *error = "frame larger than maxFileBytes";
      return false;
    }
  }
  pending_.insert(pending_.end(), data, data + size);
  file_bytes_ += size;
  return true;
}

bool FileSink::WriteAll(const uint8_t* data, size_t size, std::string* error) {
  while (size > 0) {
    ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = ErrnoMessage("cannot write trace file", active_path_, errno);
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool FileSink::Flush(std::string* error) {
  if (!deferred_error_.empty()) {
    *error = deferred_error_;
    return false;
  }
  if (fd_ < 0) return true;
  if (!pending_.empty()) {
    bool ok = WriteAll(pending_.data(), pending_.size(), error);
    pending_.clear();
    if (!ok) return false;
  }
  // Writes to a file whose directory was removed succeed silently on Linux; a link count of 0
  // is the only sign that the trace is going nowhere.
  struct stat st;
  if (::fstat(fd_, &st) == 0 && st.st_nlink == 0) {
    *error = "trace file " + active_path_ + " was deleted (or its directory removed) while tracing";
    return false;
  }
  return true;
}

void FileSink::Close() {
  std::string ignored;
  SealFile(&ignored);
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool Outbox::Add(std::vector<uint8_t> bytes, bool* was_empty) {
  std::lock_guard<std::mutex> lock(mu_);
  *was_empty = chunks_.empty();
  if (bytes_ + bytes.size() > max_bytes_) return false;
  bytes_ += bytes.size();
  chunks_.push_back(std::move(bytes));
  return true;
}

std::vector<std::vector<uint8_t>> Outbox::TakeAll() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::vector<uint8_t>> out;
  out.swap(chunks_);
  bytes_ = 0;
  return out;
}

bool JsSink::Open(const PreambleFn& preamble, std::string* error) {
  Encoder enc;
  preamble(enc, 0);
  batch_.assign(enc.data(), enc.data() + enc.size());
  return Flush(error);
}

bool JsSink::WriteFrame(const uint8_t* data, size_t size, std::string*) {
  batch_.insert(batch_.end(), data, data + size);
  return true;
}

bool JsSink::Flush(std::string*) {
  if (batch_.empty()) return true;
  bool was_empty = false;
  size_t size = batch_.size();
  if (!outbox_->Add(std::move(batch_), &was_empty)) {
    dropped_bytes_ += size;
  } else if (was_empty) {
    wake_();
  }
  batch_.clear();
  return true;
}

}  // namespace looptrace
