#include "sinks.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

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
    case EEXIST: return "EEXIST";
    case ELOOP: return "ELOOP";
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

bool IsTag(const std::string& s) {
  size_t dash = s.find('-');
  if (dash == std::string::npos || dash == 0 || dash > 10 || s.size() - dash - 1 != 8) return false;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    bool ok = i < dash ? (c >= '0' && c <= '9') : i == dash || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!ok) return false;
  }
  return true;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.size() <= 18 && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

FileSink::FileSink(std::string path, uint64_t max_file_bytes, uint64_t max_total_bytes, bool replace)
    : path_(std::move(path)),
      max_file_bytes_(max_file_bytes),
      max_total_bytes_(max_total_bytes),
      replace_(replace && max_file_bytes == 0) {
  // The pid tells people which process wrote a file; the random part keeps two processes with
  // the same pid (in two containers sharing a volume) or a reused pid apart.
  std::random_device random;
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(random()));
  tag_ = std::to_string(::getpid()) + "-" + hex;
}

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string FileSink::NumberedPath(const std::string& tag, uint64_t index, bool active) const {
  std::string dir, stem, ext;
  SplitPath(path_, &dir, &stem, &ext);
  std::string prefix = path_.rfind('/') == std::string::npos ? "" : dir + "/";
  return prefix + stem + "." + tag + "." + std::to_string(index) + (active ? ".active" : "") + ext;
}

std::string FileSink::LockPath(const std::string& tag) const {
  std::string dir, stem, ext;
  SplitPath(path_, &dir, &stem, &ext);
  std::string prefix = path_.rfind('/') == std::string::npos ? "" : dir + "/";
  return prefix + "." + stem + "." + tag + ".lock";
}

// Creates `path`, which must not exist: never truncates a file, never follows a symlink.
int FileSink::CreateExclusive(const std::string& path, std::string* error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    *error = err == EEXIST ? "trace file " + path + " already exists (EEXIST); looptrace never overwrites a file"
                           : ErrnoMessage("cannot open trace file", path, err);
  }
  return fd;
}

// The lock file appears under its name only once it is locked (created under a temporary name,
// locked, then renamed), so another process never sees it unlocked while this one lives.
bool FileSink::TakeLock(std::string* error) {
  lock_path_ = LockPath(tag_);
  std::string temp = lock_path_ + ".tmp";
  int fd = CreateExclusive(temp, error);
  if (fd < 0) return false;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || ::rename(temp.c_str(), lock_path_.c_str()) != 0) {
    *error = ErrnoMessage("cannot lock trace directory with", lock_path_, errno);
    ::unlink(temp.c_str());
    ::close(fd);
    return false;
  }
  lock_fd_ = fd;
  return true;
}

// Files of processes that have ended, written with the same path, count against this process's
// budget, oldest first: they are the history of the same service. A process has ended when its
// lock file is not locked (flock is released when a process dies, even by SIGKILL); then this
// process takes the lock itself, seals the file the ended process was writing (its intact frames
// still decode) and removes the lock file. A running process's files are never touched.
void FileSink::ScanExisting() {
  std::string dir, stem, ext;
  SplitPath(path_, &dir, &stem, &ext);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  struct Found {
    std::vector<std::pair<uint64_t, std::string>> files;  // index, name (with ".active" if so)
  };
  std::map<std::string, Found> tags;
  const std::string prefix = stem + ".";
  const std::string lock_prefix = "." + stem + ".";
  const std::string kActive = ".active";
  const std::string kLock = ".lock";
  while (dirent* entry = ::readdir(d)) {
    std::string name = entry->d_name;
    if (name.size() > lock_prefix.size() + kLock.size() && name.compare(0, lock_prefix.size(), lock_prefix) == 0 &&
        name.compare(name.size() - kLock.size(), kLock.size(), kLock) == 0) {
      std::string tag = name.substr(lock_prefix.size(), name.size() - lock_prefix.size() - kLock.size());
      // A lock file left by a process that died before writing any file.
      if (IsTag(tag) && tag != tag_) tags[tag];
      continue;
    }
    if (name.size() <= prefix.size() + ext.size() || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(name.size() - ext.size(), ext.size(), ext) != 0) {
      continue;
    }
    std::string middle = name.substr(prefix.size(), name.size() - prefix.size() - ext.size());
    size_t dot = middle.find('.');
    if (dot == std::string::npos) continue;
    std::string tag = middle.substr(0, dot);
    std::string rest = middle.substr(dot + 1);
    bool active = rest.size() > kActive.size() && rest.compare(rest.size() - kActive.size(), kActive.size(), kActive) == 0;
    if (active) rest.resize(rest.size() - kActive.size());
    if (!IsTag(tag) || tag == tag_ || !AllDigits(rest)) continue;
    tags[tag].files.emplace_back(std::strtoull(rest.c_str(), nullptr, 10), name);
  }
  ::closedir(d);
  std::string base = dir == "/" ? "" : dir;
  struct Old {
    time_t mtime;
    std::string path;
    uint64_t bytes;
  };
  std::vector<Old> adopted;
  for (auto& [tag, found] : tags) {
    // The lock file is opened whether or not the listing showed it: a listing is not atomic, and
    // a process creates its lock file before its first trace file and removes it after its last.
    int lock_fd = ::open(LockPath(tag).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (lock_fd < 0 && errno != ENOENT) continue;
    // Held: its process runs, hands off.
    if (lock_fd >= 0 && ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(lock_fd);
      continue;
    }
    for (auto& [index, name] : found.files) {
      std::string full = base + "/" + name;
      if (name.size() > kActive.size() + ext.size() &&
          name.compare(name.size() - ext.size() - kActive.size(), kActive.size(), kActive) == 0) {
        std::string sealed = NumberedPath(tag, index, false);
        if (::rename(full.c_str(), sealed.c_str()) != 0) continue;
        full = sealed;
      }
      struct stat st;
      if (::lstat(full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      adopted.push_back({st.st_mtime, full, static_cast<uint64_t>(st.st_size)});
    }
    if (lock_fd >= 0) {
      ::unlink(LockPath(tag).c_str());
      ::close(lock_fd);
    }
  }
  std::stable_sort(adopted.begin(), adopted.end(), [](const Old& a, const Old& b) { return a.mtime < b.mtime; });
  for (const Old& f : adopted) {
    sealed_.push_back({f.path, f.bytes});
    sealed_bytes_ += f.bytes;
  }
}

bool FileSink::Open(const PreambleFn& preamble, std::string* error) {
  preamble_ = preamble;
  if (rotating()) {
    if (!TakeLock(error)) return false;
    ScanExisting();
  }
  if (!OpenFile(error)) return false;
  // The header goes to disk at once, so a process killed before the first flush still leaves a
  // file that decodes. A file that opens but cannot be written (a full disk) is a write failure,
  // reported through onError by the writer thread's first flush, not a throw from start.
  std::string write_error;
  if (!Flush(&write_error)) deferred_error_ = write_error;
  return true;
}

bool FileSink::OpenFile(std::string* error) {
  if (!SealFile(error)) return false;
  uint64_t index = rotating() ? next_index_++ : 0;
  std::string path = rotating() ? NumberedPath(index, true) : path_;
  // Owner-only permissions: traces reveal what the application does and when.
  int fd = -1;
  if (replace_) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) *error = ErrnoMessage("cannot open trace file", path, errno);
  } else {
    fd = CreateExclusive(path, error);
  }
  if (fd < 0) return false;
  fd_ = fd;
  file_index_ = index;
  active_path_ = path;
  files_opened_.fetch_add(1, std::memory_order_relaxed);
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
      if (!OpenFile(error)) return false;
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
  // Every file is sealed: the lock goes, and a later process may count these files as history.
  if (lock_fd_ >= 0) {
    ::unlink(lock_path_.c_str());
    ::close(lock_fd_);
    lock_fd_ = -1;
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
    dropped_bytes_.fetch_add(size, std::memory_order_relaxed);
  } else if (was_empty) {
    wake_();
  }
  batch_.clear();
  return true;
}

}  // namespace looptrace
